import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import type { Server } from "node:http";
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serveFolder, view } from "../../src/cli/view";
import { InputError } from "../../src/errors";

/** A raw GET, so paths reach the server exactly as written (fetch would normalize them). */
function get(
  port: number,
  path: string,
): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: "127.0.0.1", port, path }, (response) => {
      let body = "";
      response.on("data", (chunk) => {
        body += chunk;
      });
      response.on("end", () =>
        resolve({ status: response.statusCode ?? 0, type: response.headers["content-type"], body }),
      );
    })
      .on("error", reject)
      .end();
  });
}

describe("npm run view's file server", () => {
  let dir: string;
  let server: Server;
  let port: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "view-"));
    await writeFile(join(dir, "playlist.m3u8"), "#EXTM3U\n");
    await writeFile(join(tmpdir(), "outside-view.txt"), "secret");
    server = await serveFolder(dir);
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((done) => server.close(done));
    await rm(dir, { recursive: true, force: true });
  });

  it("answers a port in use in one line naming it", async () => {
    await mkdir(join(dir, "viewer"), { recursive: true });
    await writeFile(join(dir, "viewer", "index.html"), "<html></html>");

    const refused = view({ root: dir, port, out: new PassThrough() });

    await expect(refused).rejects.toThrow(InputError);
    await expect(refused).rejects.toThrow(`port ${port} is in use: choose another with --port N`);
  });

  it("serves the folder's files with their types, and nothing else", async () => {
    expect(await get(port, "/playlist.m3u8")).toEqual({
      status: 200,
      type: "application/vnd.apple.mpegurl",
      body: "#EXTM3U\n",
    });
    expect((await get(port, "/missing.json")).status).toBe(404);
    for (const path of ["/../outside-view.txt", "/%2e%2e/outside-view.txt", "/..%2foutside-view.txt"]) {
      const answer = await get(port, path);
      expect(answer.status, path).toBeGreaterThanOrEqual(400);
      expect(answer.body, path).not.toBe("secret");
    }
  });

  it("answers a malformed path with 400 and keeps serving", async () => {
    expect((await get(port, "/%")).status).toBe(400);
    expect((await get(port, "/playlist.m3u8")).status).toBe(200);
  });
});
