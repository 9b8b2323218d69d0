// `npm run build`: copies src/ and the bundled hls.js into dist/ (load it unpacked) and zips
// dist/ into sharprai-extension-<version>.zip for the Chrome Web Store. No remote code: hls.js
// comes from node_modules, pinned by package-lock.json. `node build.mjs --out DIR` builds elsewhere.

import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateRawSync } from 'node:zlib';

const root = dirname(fileURLToPath(import.meta.url));
const outFlag = process.argv.indexOf('--out');
const dist = outFlag > 0 ? resolve(process.argv[outFlag + 1]) : join(root, 'dist');
const hlsDist = join(root, 'node_modules', 'hls.js', 'dist');
const VENDORED = ['hls.mjs', 'hls.worker.js'];

function filesUnder(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  }).sort();
}

/** A plain ZIP (deflate, no extras): local headers, then the central directory, then its end. */
function zip(files) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const { name, data } of files) {
    const nameBytes = Buffer.from(name, 'utf8');
    const packed = deflateRawSync(data, { level: 9 });
    const crc = crc32(data);
    const common = Buffer.alloc(26);
    common.writeUInt16LE(20, 0); // version needed
    common.writeUInt16LE(0x0800, 2); // UTF-8 names
    common.writeUInt16LE(8, 4); // deflate
    common.writeUInt32LE(0, 6); // time and date: 0, so the zip is reproducible
    common.writeUInt32LE(crc, 10);
    common.writeUInt32LE(packed.length, 14);
    common.writeUInt32LE(data.length, 18);
    common.writeUInt16LE(nameBytes.length, 22);
    common.writeUInt16LE(0, 24);
    const local = Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), common, nameBytes, packed]);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4); // version made by
    common.copy(central, 6);
    central.writeUInt32LE(offset, 42);
    centrals.push(Buffer.concat([central, nameBytes]));
    locals.push(local);
    offset += local.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

for (const name of VENDORED) {
  try {
    statSync(join(hlsDist, name));
  } catch {
    console.error(`missing ${join(hlsDist, name)}: run "npm ci" in extension/ first`);
    process.exit(1);
  }
}
rmSync(dist, { recursive: true, force: true });
cpSync(join(root, 'src'), dist, { recursive: true });
mkdirSync(join(dist, 'vendor'), { recursive: true });
for (const name of VENDORED) cpSync(join(hlsDist, name), join(dist, 'vendor', name));
cpSync(join(root, 'node_modules', 'hls.js', 'LICENSE'), join(dist, 'vendor', 'hls.js.LICENSE'));

const { version } = JSON.parse(readFileSync(join(dist, 'manifest.json'), 'utf8'));
const entries = filesUnder(dist).map((path) => ({ name: relative(dist, path).split('\\').join('/'), data: readFileSync(path) }));
const zipPath = join(dirname(dist), `sharprai-extension-${version}.zip`);
writeFileSync(zipPath, zip(entries));
console.log(`built ${dist} (${entries.length} files) and ${zipPath}`);
