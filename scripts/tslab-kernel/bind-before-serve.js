'use strict';
/**
 * The start-up of tslab 1.0.22's kernel, in an order that cannot lose the client's first messages.
 *
 * tslab's ZmqServer.init starts its read loops on the shell, control and heartbeat sockets and then
 * binds all five sockets at once. zeromq.js 6 marks a socket Blocked while its bind runs on a libuv
 * worker thread, until the main thread runs the bind's completion; receive() or send() on a Blocked
 * socket throws EBUSY ("Socket is blocked by a bind or unbind operation"), while a receive() that was
 * already waiting is still handed the messages zeromq's I/O thread accepts as soon as the port is
 * bound. A client connects and sends its kernel_info request at once, so on a loaded machine, where
 * the main thread can run the message callback before the bind completions, the request reaches
 * tslab's handler while the sockets are still Blocked: publishing 'busy' on iopub throws (the reply is
 * never sent), and the shell loop's next receive() throws too, which ends the loop: the kernel never
 * answers a request again (papermill and nbclient give up with "Kernel didn't respond in 60 seconds").
 *
 * This init binds every socket first and starts reading only when all binds have completed; what a
 * client sends meanwhile waits in zeromq's queues. The rest is tslab's init as it was (same sockets,
 * same handlers, shell and control messages handled concurrently, heartbeats echoed).
 *
 * The ports: jupyter_client picks five free ports, frees them and writes them in the connection file;
 * tslab binds them only after loading TypeScript and warming its converter (seconds, a minute on a
 * loaded machine), and any program may take a free port meanwhile. tslab then logged EADDRINUSE and
 * lived on without sockets: a kernel that never answers, which no client restarts since its process
 * is alive. Here the binds start as soon as node has loaded zeromq, a taken port is waited for a
 * while, and a port that stays taken ends the kernel with one line naming it (kernel.js): JupyterLab's
 * restarter then starts it again on new ports, and nbclient and papermill say the kernel died.
 */

/** How long a port taken by another process is waited for before the kernel gives up. */
const PORT_WAIT_MS = 10_000;
const PORT_RETRY_MS = 100;

/**
 * The kernel's five sockets, binding to the ports of its connection file: `bound` settles when every
 * bind has completed (started at once: five different sockets). A port another process holds is tried
 * again for PORT_WAIT_MS (jupyter_client picks free ports and frees them for the kernel, so another
 * program can take one meanwhile: a port probe or a short connection lets go of it soon), then
 * `bound` fails naming the port. Nothing is read or written here: see bindBeforeServe.
 * @param {string} configPath the connection file
 * @param {any} zmq the zeromq module tslab uses
 * @returns {{ conn: any, sockets: { iopub: any, shell: any, control: any, stdin: any, hb: any }, bound: Promise<void> }}
 */
function bindKernelSockets(configPath, zmq) {
  const fs = require('node:fs');
  const conn = JSON.parse(fs.readFileSync(configPath, 'utf-8'));
  const sockets = {
    iopub: new zmq.Publisher(),
    shell: new zmq.Router(),
    control: new zmq.Router(),
    stdin: new zmq.Router(),
    hb: new zmq.Reply(),
  };
  const bound = Promise.all(Object.entries(sockets).map(([name, socket]) => bindPort(socket, name, conn))).then(() => {});
  return { conn, sockets, bound };
}

/** @param {any} socket @param {string} name @param {any} conn */
async function bindPort(socket, name, conn) {
  const port = conn[`${name}_port`];
  const address = `${conn.transport}://${conn.ip}:${port}`;
  const giveUp = Date.now() + PORT_WAIT_MS;
  for (;;) {
    try {
      return await socket.bind(address);
    } catch (e) {
      if (!e || e.code !== 'EADDRINUSE' || Date.now() >= giveUp) {
        const why = e && e.code === 'EADDRINUSE' ? `is held by another process for ${PORT_WAIT_MS / 1000} s` : `cannot be bound: ${e && e.message}`;
        throw Object.assign(new Error(`the ${name} port ${port} (${address}) ${why}`), { code: e && e.code });
      }
      await new Promise((resolve) => setTimeout(resolve, PORT_RETRY_MS));
    }
  }
}

/**
 * A replacement for tslab's ZmqServer.prototype.init. `early` is the kernel's sockets as
 * bindKernelSockets returns them, binding since the kernel's first moments (kernel.js starts the
 * binds before tslab loads TypeScript, so the ports jupyter_client chose are free for other programs
 * only for the moment node takes to start); without it, init binds them itself with `loadZeromq`'s
 * module. Reading starts when every bind has completed; what a client sent meanwhile waits in
 * zeromq's queues.
 * @param {() => any} loadZeromq
 * @param {ReturnType<typeof bindKernelSockets>} [early]
 * @returns {(this: any) => Promise<void>}
 */
function bindBeforeServe(loadZeromq, early) {
  return async function init() {
    const { conn, sockets, bound } = early ?? bindKernelSockets(this.configPath, loadZeromq());
    Object.assign(this, { connInfo: conn, ...sockets });
    await bound;
    serve('shell', this.shell, (msgs) => this.handleShellMessage(this.shell, ...msgs));
    serve('control', this.control, (msgs) => this.handleShellMessage(this.control, ...msgs));
    // The heartbeat echoes each ping; a REP socket takes the next ping only after the reply is sent.
    serve('heartbeat', this.hb, (msgs) => this.hb.send(msgs));
  };
}

/**
 * Reads `socket` until it is closed (the loop then ends), passing each message to `onMessage`
 * without waiting for it, as tslab does.
 * @param {string} name
 * @param {AsyncIterable<Buffer[]>} socket
 * @param {(msgs: Buffer[]) => unknown} onMessage
 */
function serve(name, socket, onMessage) {
  (async () => {
    for await (const msgs of socket) onMessage(msgs);
  })().catch((e) => console.error(`tslab kernel: the ${name} socket stopped reading:`, e));
}

module.exports = { bindBeforeServe, bindKernelSockets, PORT_WAIT_MS };
