import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize, resolve, sep } from "node:path";
import { InputError } from "../errors";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".vtt": "text/vtt; charset=utf-8",
  ".m3u8": "application/vnd.apple.mpegurl",
  ".ts": "video/mp2t",
};

/** The viewer's URL for what `npm start` left in out/. */
const DEMO_PAGE = "/viewer/index.html?video=/recording/media/hls/master.m3u8&chat=/chat/index.json";

/** Serves a folder's files read-only on loopback; resolves once listening. */
export async function serveFolder(root: string, port = 0): Promise<Server> {
  const base = resolve(root);
  const server = createServer((request, response) => {
    const refuse = (code: number) =>
      response.writeHead(code, { "content-type": "text/plain" }).end(String(code));
    let path: string;
    try {
      path = decodeURIComponent(new URL(request.url ?? "/", "http://localhost").pathname);
    } catch {
      return refuse(400);
    }
    const file = normalize(join(base, path));
    if (request.method !== "GET" && request.method !== "HEAD") return refuse(405);
    // Nothing outside the folder.
    if (file !== base && !file.startsWith(`${base}${sep}`)) return refuse(403);
    stat(file).then(
      (info) => {
        if (!info.isFile()) return refuse(404);
        response.writeHead(200, {
          "content-type": TYPES[extname(file)] ?? "application/octet-stream",
          "content-length": info.size,
          "cache-control": "no-store",
        });
        if (request.method === "HEAD") return response.end();
        createReadStream(file)
          .on("error", () => response.destroy())
          .pipe(response);
      },
      () => refuse(404),
    );
  });
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(port, "127.0.0.1", done);
  });
  return server;
}

/** `npm run view`: serves out/ on loopback and prints the viewer's URL for the demo; runs until stopped. */
export async function view(options: {
  root: string;
  port?: number;
  out: NodeJS.WritableStream;
}): Promise<Server> {
  const ready = await stat(join(options.root, "viewer", "index.html")).then(
    () => true,
    () => false,
  );
  if (!ready) throw new InputError(`no viewer in ${options.root}: run \`npm start\` first`);
  const server = await serveFolder(options.root, options.port).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "EADDRINUSE" && error.code !== "EACCES") throw error;
    const why = error.code === "EADDRINUSE" ? "is in use" : "may not be listened on";
    throw new InputError(`port ${options.port} ${why}: choose another with --port N`, { cause: error });
  });
  const { port } = server.address() as AddressInfo;
  options.out.write(`serving ${options.root} at http://127.0.0.1:${port}/ (Ctrl-C to stop)\n`);
  options.out.write(`open http://127.0.0.1:${port}${DEMO_PAGE}\n`);
  return server;
}
