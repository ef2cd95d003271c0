#!/usr/bin/env node
// `npm run install:cuda`: installs onnxruntime-node's CUDA 12 execution provider (downloaded from
// NuGet by the package's own install script). package.json's allowScripts denies that script so
// a plain `npm ci` never downloads it; this runs it on purpose, on a GPU host.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';

const ortDir = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
const binDir = join(ortDir, 'bin', 'napi-v6', platform(), arch());
const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: process.env.ONNXRUNTIME_NODE_INSTALL || 'cuda12' };
// Under `npm run`, these point at this project, and the installer takes that for a build of
// onnxruntime itself and quietly does nothing.
delete env.npm_package_json;
delete env.npm_config_local_prefix;
const r = spawnSync(process.execPath, [join(ortDir, 'script', 'install.js')], { cwd: ortDir, env, stdio: 'inherit' });
if (r.status !== 0) {
  console.error(`install:cuda: onnxruntime-node's installer failed (exit ${r.status ?? r.signal}); see above.`);
  process.exit(1);
}
const provider = join(binDir, 'libonnxruntime_providers_cuda.so');
if (platform() === 'linux' && arch() === 'x64') {
  if (!existsSync(provider)) {
    console.error(`install:cuda: ${provider} is still missing.`);
    process.exit(1);
  }
  console.log(`install:cuda: the CUDA 12 execution provider is in ${binDir}; use --device cuda:0 or DEVICES=cuda:0.`);
} else {
  console.log(`install:cuda: onnxruntime-node needs no extra CUDA download on ${platform()}/${arch()}.`);
}
