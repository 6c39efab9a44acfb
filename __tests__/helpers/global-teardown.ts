/** Removes the /tmp/cdktf.outdir.* folders `Testing.*` leaves behind, once every test file is done. */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export default function globalTeardown(): void {
  for (const f of fs.readdirSync(os.tmpdir())) {
    if (f.startsWith("cdktf.outdir.")) fs.rmSync(path.join(os.tmpdir(), f), { recursive: true, force: true });
  }
}
