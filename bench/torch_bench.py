"""Times every training method of bench.ts (LeNet-GAP, SGD momentum, batch 32) in PyTorch on exactly the images,
labels, targets, masks and initial weights that bench.ts used, on one thread (the yardstick of docs/method.md section 10).
The align step is the paper's (docs/method.md sections 3-4). Usage: python3 torch_bench.py DIR [--grads] (files written by bench.ts;
--grads prints the first batch's loss and gradients instead, for the parity tests: meta.gradsMethod picks the step).

Methods (meta.methods, keys of bench.ts METHODS):
  vanilla    CE
  align      CE + lam KL(q || softmax(minmax(relu(CAM_y))))              (the paper)
  gradcam    the same with Grad-CAM's channel weights (d logit_y / dA, spatial mean; create_graph)
  inputgrad  the same with |d logit_y / dx| summed over channels, area-pooled 32x32 -> 10x10
  rrr        CE + rrrLam mean_b sum_p w_p |g_p|^2, g = d sum_k log p_k / dx (create_graph), w = the decoy patch
  rrrColour  CE + rrrLam mean_b sum_p g_p^T (I - 11^T/3) g_p
  prompt     CE + rrrLam mean_b sum_p (w_p |g_p|^2 + g_p^T C g_p), w = 1 - dilated digit mask
  eg         CE + egLam mean_b sum_p w_p |a_p|^2, a = (x - r) * d p_y / dx at r + alpha (x - r) (create_graph), one
             reference r drawn from the batch, alpha ~ U(0, 1), w = the decoy patch (lib/losses/expected-gradients.ts)
  (bench.ts's cdep row has no twin here: CDEP's contextual decomposition would be a second port of every layer.)
Prints one JSON line: images/s (wall clock, and by process CPU time) per method and for evaluation."""
import json, sys, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F

d = [a for a in sys.argv[1:] if not a.startswith("--")][0]
meta = json.load(open(f'{d}/meta.json'))
torch.set_num_threads(meta.get('threads', 1))
n, warm, ev = meta['trainImages'], meta['warmupImages'], meta['evalImages']
B, lam, rlam = meta['batch'], meta['lambda'], meta.get('rrrLambda', 10.0)
N = meta['count']

def images(name, count):
    return torch.from_numpy(np.fromfile(f'{d}/{name}', dtype=np.float32).reshape(count, 32, 32, 3)).permute(0, 3, 1, 2).contiguous()

def masks(name, count):
    return torch.from_numpy(np.fromfile(f'{d}/{name}', dtype=np.float32).reshape(count, 32, 32))

def optional(f, *a):
    try:
        return f(*a)
    except FileNotFoundError:
        return None

X = images('x.f32', N)
Y = torch.from_numpy(np.fromfile(f'{d}/y.i32', dtype=np.int32).astype(np.int64))
Q = torch.from_numpy(np.fromfile(f'{d}/q.f32', dtype=np.float32).reshape(N, 100))
W = np.fromfile(f'{d}/w.f32', dtype=np.float32)
M = optional(masks, 'm.f32', N)
MP = optional(masks, 'mp.f32', N)
ND = meta.get('decoyCount', 0)
XD = images('xd.f32', ND) if ND else None
YD = torch.from_numpy(np.fromfile(f'{d}/yd.i32', dtype=np.int32).astype(np.int64)) if ND else None
MD = masks('md.f32', ND) if ND else None

IDENTITY3 = torch.eye(3)
OFF_GREY3 = torch.eye(3) - torch.full((3, 3), 1.0 / 3.0)

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

def paper_logprob(m):
    """The paper's distribution of a non-negative map [B, 100]: log softmax of the min-max normalised map."""
    mn, mx = m.min(1, keepdim=True)[0], m.max(1, keepdim=True)[0]
    return F.log_softmax((m - mn) / (mx - mn + 1e-8), 1)

def cam_logprob(a, fc_w, y):
    w = fc_w[y]
    return paper_logprob(F.relu(torch.einsum('bc,bchw->bhw', w, a)).reshape(len(y), -1))

def area_weights(n_in, n_out):
    """lib/maps/postprocess.ts areaWeights: [n_out, n_in], each row the overlap of output cell o with input pixels."""
    scale = n_in / n_out
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        a, b = o * scale, (o + 1) * scale
        for i in range(int(np.floor(a)), min(int(np.ceil(b)), n_in)):
            ov = min(b, i + 1) - max(a, i)
            if ov > 1e-12: m[o, i] = ov / scale
    return m

_a = area_weights(32, 10)
POOL = torch.from_numpy(np.einsum('yi,xj->ijyx', _a, _a).reshape(1024, 100).astype(np.float32))  # [32*32, 10*10]

def align_loss(net, x, y, q, attention):
    """CE + lam * paper KL of the attention map: (loss, ce, kl)."""
    if attention == 'inputgrad':
        x = x.clone().requires_grad_(True)
    logits, a = net(x)
    ce = F.cross_entropy(logits, y)
    score = logits.gather(1, y[:, None]).sum()
    if attention == 'cam':
        lp = cam_logprob(a, net.fc.weight, y)
    elif attention == 'gradcam':
        ga, = torch.autograd.grad(score, a, create_graph=True)
        lp = paper_logprob(F.relu(torch.einsum('bc,bchw->bhw', ga.mean((2, 3)), a)).reshape(len(y), -1))
    else:
        g, = torch.autograd.grad(score, x, create_graph=True)
        lp = paper_logprob(g.abs().sum(1).reshape(len(y), 1024) @ POOL)
    kl = F.kl_div(lp, q, reduction='batchmean')
    return ce + lam * kl, ce, kl

def rrr_loss(net, x, y, w, S, C, weight):
    """CE + weight * mean_b R, R = sum_p w_p g_p^T S g_p + g_p^T C g_p, g = d sum_k log p_k / dx: (loss, ce, R)."""
    x = x.clone().requires_grad_(True)
    logits, _ = net(x)
    ce = F.cross_entropy(logits, y)
    g, = torch.autograd.grad(F.log_softmax(logits, 1).sum(), x, create_graph=True)
    gp = g.permute(0, 2, 3, 1)  # [B, 32, 32, 3]
    r = torch.zeros(())
    if S is not None:
        r = r + (w * ((gp @ S) * gp).sum(-1)).sum()
    if C is not None:
        r = r + ((gp @ C) * gp).sum()
    r = r / len(y)
    return ce + weight * r, ce, r

def eg_loss(net, x, y, w, weight):
    """CE + weight * mean_b sum_p w_p |a_p|^2, the expected-gradients attributions of one reference per image
    (a row of the batch, as lib/losses/expected-gradients.ts draws; the draws differ from tfjs's, the work does not):
    (loss, ce, R)."""
    logits, _ = net(x)
    ce = F.cross_entropy(logits, y)
    r = x[torch.randint(len(y), (len(y),), generator=EG_GEN)]
    alpha = torch.rand(len(y), 1, 1, 1, generator=EG_GEN)
    diff = x - r
    xp = (r + alpha * diff).requires_grad_(True)
    p = F.softmax(net(xp)[0], 1)
    g, = torch.autograd.grad(p.gather(1, y[:, None]).sum(), xp, create_graph=True)
    a = (diff * g).permute(0, 2, 3, 1)  # [B, 32, 32, 3]
    R = (w * (a * a).sum(-1)).sum() / len(y)
    return ce + weight * R, ce, R

EG_GEN = torch.Generator().manual_seed(37)
EG_LAMBDA = meta.get('egLambda', 1e5)

PROMPT_C = torch.tensor(meta['promptC'], dtype=torch.float32).reshape(3, 3) if meta.get('promptC') else 0.5 * OFF_GREY3

def method_step(key):
    """(images, labels, per-image extra, loss function(net, x, y, extra) -> loss) of a method."""
    if key == 'vanilla': return X, Y, None, lambda net, x, y, e: F.cross_entropy(net(x)[0], y)
    if key == 'align': return X, Y, Q, lambda net, x, y, e: align_loss(net, x, y, e, 'cam')[0]
    if key == 'gradcam': return X, Y, Q, lambda net, x, y, e: align_loss(net, x, y, e, 'gradcam')[0]
    if key == 'inputgrad': return X, Y, Q, lambda net, x, y, e: align_loss(net, x, y, e, 'inputgrad')[0]
    if key == 'rrr': return XD, YD, MD, lambda net, x, y, e: rrr_loss(net, x, y, e, IDENTITY3, None, rlam)[0]
    if key == 'rrrColour': return X, Y, None, lambda net, x, y, e: rrr_loss(net, x, y, e, None, OFF_GREY3, rlam)[0]
    if key == 'prompt': return X, Y, MP, lambda net, x, y, e: rrr_loss(net, x, y, e, IDENTITY3, PROMPT_C, rlam)[0]
    if key == 'eg': return XD, YD, MD, lambda net, x, y, e: eg_loss(net, x, y, e, EG_LAMBDA)[0]
    raise ValueError(f'unknown method {key}')

def train(key, count):
    xs, ys, es, f = method_step(key)
    total = len(ys)
    net = LeNetGAP(); load_weights(net)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.98, weight_decay=1e-4)
    pos = 0
    def run(k):
        nonlocal pos
        tot = 0.0
        for _ in range(0, k, B):
            if pos + B > total: pos = 0
            b = slice(pos, pos + B); pos += B
            loss = f(net, xs[b], ys[b], es[b] if es is not None else None)
            opt.zero_grad(); loss.backward(); opt.step(); tot += loss.item()
        return tot
    run(warm)
    t0, c0 = time.perf_counter(), time.process_time(); run(count)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    return count / dt, count / dc, net

def first_batch_gradients():
    # loss and gradients (tfjs layouts, PARAM_ORDER) of one step on the first batch, initial weights
    net = LeNetGAP(); load_weights(net)
    b = slice(0, min(B, N))
    kind = meta.get('gradsMethod', 'align')
    if kind == 'rrr':
        p = meta['penalty']
        mat = lambda v: None if v is None else torch.tensor(v, dtype=torch.float32).reshape(3, 3)
        loss, ce, att = rrr_loss(net, X[b], Y[b], M[b] if M is not None else None, mat(p['spatial']), mat(p['global']), lam)
    else:
        loss, ce, att = align_loss(net, X[b], Y[b], Q[b], 'cam' if kind == 'align' else kind)
    loss.backward()
    g = [net.c1.weight.grad.permute(2, 3, 1, 0), net.c1.bias.grad, net.c2.weight.grad.permute(2, 3, 1, 0), net.c2.bias.grad,
         net.fc.weight.grad.t(), net.fc.bias.grad]
    flat = torch.cat([t.contiguous().reshape(-1) for t in g]).tolist()
    return {'loss': loss.item(), 'ce': ce.item(), 'kl': att.item(), 'grads': flat}

if '--grads' in sys.argv:
    print(json.dumps(first_batch_gradients()))
    sys.exit(0)

out = {'torchVersion': torch.__version__, 'threads': torch.get_num_threads()}
net = None
for key in meta.get('methods', ['vanilla', 'align']):
    field = f'train{key[0].upper()}{key[1:]}'
    out[f'{field}ImagesPerSecond'], out[f'{field}CpuImagesPerSecond'], net = train(key, n)
if net is None:
    net = LeNetGAP(); load_weights(net)
net.eval()
with torch.no_grad():
    net(X[:min(N, 1000)])
    t0, c0 = time.perf_counter(), time.process_time(); done = 0
    while done < ev:
        k = min(1000, ev - done, N); net(X[:k]); done += k
    out['evalImagesPerSecond'] = ev / (time.perf_counter() - t0)
    out['evalCpuImagesPerSecond'] = ev / (time.process_time() - c0)
print(json.dumps(out))
