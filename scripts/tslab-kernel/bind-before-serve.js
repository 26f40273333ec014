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
 */

/**
 * A replacement for tslab's ZmqServer.prototype.init. `loadZeromq` returns the zeromq module tslab
 * itself uses (loaded on the first start, as tslab does, so the module loads only in a kernel).
 * @param {() => any} loadZeromq
 * @returns {(this: any) => Promise<void>}
 */
function bindBeforeServe(loadZeromq) {
  return async function init() {
    const fs = require('node:fs');
    const conn = JSON.parse(fs.readFileSync(this.configPath, 'utf-8'));
    this.connInfo = conn;
    const zmq = loadZeromq();
    this.iopub = new zmq.Publisher();
    this.shell = new zmq.Router();
    this.control = new zmq.Router();
    this.stdin = new zmq.Router();
    this.hb = new zmq.Reply();
    const address = (port) => `${conn.transport}://${conn.ip}:${port}`;
    // Five different sockets: their binds may run at the same time; none is read or written until
    // every one has completed.
    await Promise.all([
      this.iopub.bind(address(conn.iopub_port)),
      this.shell.bind(address(conn.shell_port)),
      this.control.bind(address(conn.control_port)),
      this.stdin.bind(address(conn.stdin_port)),
      this.hb.bind(address(conn.hb_port)),
    ]);
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

module.exports = { bindBeforeServe };
