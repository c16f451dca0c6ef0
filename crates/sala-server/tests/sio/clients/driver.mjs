// A socket.io-client driven over stdin/stdout by Sala's tests: each stdin line is a JSON
// command ({"emit", "data"?, "ack"?} or {"close": true}); every event, ack and connection
// change is printed as one JSON line.
import { io } from "socket.io-client";
import readline from "node:readline";

const [url, transport] = process.argv.slice(2);
const token = process.env.SALA_TOKEN;
const options = { reconnection: false, transports: transport === "polling" ? ["polling"] : ["websocket"] };
if (token) options.auth = { token, ...JSON.parse(process.env.SALA_AUTH_EXTRA ?? "{}") };
const out = (value) => process.stdout.write(JSON.stringify(value) + "\n");

const socket = io(url, options);
socket.on("connect", () => out({ event: "connect", transport: socket.io.engine.transport.name }));
socket.on("connect_error", (error) => out({ event: "connect_error", message: error.message }));
socket.on("disconnect", (reason) => out({ event: "disconnect", reason }));
socket.onAny((event, ...args) => out({ event, data: args[0] ?? null }));

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const command = JSON.parse(line);
  if (command.close) {
    // The close packet may still be on its way over long-polling: let it leave first.
    socket.close();
    setTimeout(() => process.exit(0), 500);
    return;
  }
  const args = command.data === undefined ? [] : [command.data];
  if (command.ack) socket.emit(command.emit, ...args, (reply) => out({ ack: command.ack, data: reply ?? null }));
  else socket.emit(command.emit, ...args);
});
lines.on("close", () => {
  socket.close();
  setTimeout(() => process.exit(0), 500);
});
