import { fork } from 'node:child_process';
import http2 from 'node:http2';
const p = fork('/tmp/child.mjs', []);
await new Promise(r=>p.once('message', r));
const mem = (m='x') => new Promise(r=>{p.once('message', r); p.send(m);});
const { RawH2, framed, h2Call } = await import('/tmp/h2a.mjs');
const N=Number(process.argv[2]), M=Number(process.argv[3]);
console.log(await mem());
const conns = await Promise.all(Array.from({length: N},()=>RawH2.connect(47711)));
for (const c of conns) { c.openStreams(M); await c.drained(); await new Promise(r=>setTimeout(r,300)); console.log(await mem()); }
for (const c of conns) c.destroy();
p.kill();
