import { exit, name } from './rt.mjs';

const version = name === 'deno' ? `${Deno.version.deno} (V8 ${Deno.version.v8})`
  : name === 'bun' ? `${Bun.version} (JavaScriptCore, ${Bun.revision.slice(0, 9)})`
  : `${process.versions.node} (V8 ${process.versions.v8})`;
console.log(JSON.stringify({ runtime: name, version }));
exit();
