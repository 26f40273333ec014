"""Times the paper recipe (LeNet-GAP, CAM + KL, SGD momentum) in PyTorch on exactly the images, labels,
targets and initial weights that bench.ts used, on one thread (the yardstick of METHOD.md section 8).
Same step as anchors/torch_ref.py. Usage: python3 torch_bench.py DIR [--grads] (files written by bench.ts; --grads prints the first batch's
loss and gradients instead, for the parity test).
Prints one JSON line: images/s (wall clock, and by process CPU time) for the align step, the vanilla
step and evaluation."""
import json, sys, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F

d = [a for a in sys.argv[1:] if not a.startswith("--")][0]
meta = json.load(open(f'{d}/meta.json'))
torch.set_num_threads(meta.get('threads', 1))
n, warm, ev = meta['trainImages'], meta['warmupImages'], meta['evalImages']
B, lam = meta['batch'], meta['lambda']
N = meta['count']
X = torch.from_numpy(np.fromfile(f'{d}/x.f32', dtype=np.float32).reshape(N, 32, 32, 3)).permute(0, 3, 1, 2).contiguous()
Y = torch.from_numpy(np.fromfile(f'{d}/y.i32', dtype=np.int32).astype(np.int64))
Q = torch.from_numpy(np.fromfile(f'{d}/q.f32', dtype=np.float32).reshape(N, 100))
W = np.fromfile(f'{d}/w.f32', dtype=np.float32)

class LeNetGAP(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 6, 5); self.c2 = nn.Conv2d(6, 16, 5); self.fc = nn.Linear(16, 10)
    def forward(self, x):
        h = F.max_pool2d(F.relu(self.c1(x)), 2)
        a = self.c2(h)
        h = F.max_pool2d(F.relu(a), 2).mean((2, 3))
        return self.fc(h), a

def load_weights(net):
    # tfjs layouts (conv HWIO, dense [in, out]) -> torch layouts
    o = 0
    def take(shape):
        nonlocal o
        k = int(np.prod(shape)); a = W[o:o + k].reshape(shape); o += k; return torch.from_numpy(a.copy())
    with torch.no_grad():
        net.c1.weight.copy_(take((5, 5, 3, 6)).permute(3, 2, 0, 1)); net.c1.bias.copy_(take((6,)))
        net.c2.weight.copy_(take((5, 5, 6, 16)).permute(3, 2, 0, 1)); net.c2.bias.copy_(take((16,)))
        net.fc.weight.copy_(take((16, 10)).t()); net.fc.bias.copy_(take((10,)))

def cam_logprob(a, fc_w, y):
    w = fc_w[y]
    cam = F.relu(torch.einsum('bc,bchw->bhw', w, a)).reshape(len(y), -1)
    mn, mx = cam.min(1, keepdim=True)[0], cam.max(1, keepdim=True)[0]
    return F.log_softmax((cam - mn) / (mx - mn + 1e-8), 1)

def train(align, count):
    net = LeNetGAP(); load_weights(net)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.98, weight_decay=1e-4)
    def run(start, k):
        tot = 0.0
        for i in range(start, start + k, B):
            j = i % N
            b = slice(j, min(j + B, N))
            logits, a = net(X[b])
            loss = F.cross_entropy(logits, Y[b])
            if align:
                loss = loss + lam * F.kl_div(cam_logprob(a, net.fc.weight, Y[b]), Q[b], reduction='batchmean')
            opt.zero_grad(); loss.backward(); opt.step(); tot += loss.item()
        return tot
    run(0, warm)
    t0, c0 = time.perf_counter(), time.process_time(); run(warm, count)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    return count / dt, count / dc, net

def first_batch_gradients():
    # loss and gradients (tfjs layouts, PARAM_ORDER) of the align step on the first batch, initial weights
    net = LeNetGAP(); load_weights(net)
    b = slice(0, min(B, N))
    logits, a = net(X[b])
    ce = F.cross_entropy(logits, Y[b])
    kl = F.kl_div(cam_logprob(a, net.fc.weight, Y[b]), Q[b], reduction='batchmean')
    loss = ce + lam * kl
    loss.backward()
    g = [net.c1.weight.grad.permute(2, 3, 1, 0), net.c1.bias.grad, net.c2.weight.grad.permute(2, 3, 1, 0), net.c2.bias.grad,
         net.fc.weight.grad.t(), net.fc.bias.grad]
    flat = torch.cat([t.contiguous().reshape(-1) for t in g]).tolist()
    return {'loss': loss.item(), 'ce': ce.item(), 'kl': kl.item(), 'grads': flat}

if '--grads' in sys.argv:
    print(json.dumps(first_batch_gradients()))
    sys.exit(0)

out = {'torchVersion': torch.__version__, 'threads': torch.get_num_threads()}
out['trainAlignImagesPerSecond'], out['trainAlignCpuImagesPerSecond'], net = train(True, n)
out['trainVanillaImagesPerSecond'], out['trainVanillaCpuImagesPerSecond'], _ = train(False, n)
net.eval()
with torch.no_grad():
    net(X[:min(N, 1000)])
    t0, c0 = time.perf_counter(), time.process_time(); done = 0
    while done < ev:
        k = min(1000, ev - done, N); net(X[:k]); done += k
    out['evalImagesPerSecond'] = ev / (time.perf_counter() - t0)
    out['evalCpuImagesPerSecond'] = ev / (time.process_time() - c0)
print(json.dumps(out))
