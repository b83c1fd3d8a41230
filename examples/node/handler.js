#!/usr/bin/env node
// A swarm handler in Node.js (standard library only), for -codec json.
//
// Run it with swarm:
//
//   swarm -topics orders -output-topic out -dead-letter-topic dlq -- node examples/node/handler.js
//
// Each record's value goes to -output-topic upper-cased, with its key and
// headers. A record whose key is listed in FAIL_KEYS (comma-separated) is
// answered {"error": ...}: swarm retries it after -retry-backoff with
// "attempt" one more (logged here to stderr), then dead-letters it.
//
// Answers stream: each 'data' event is whatever swarm has sent so far, and
// the answers to its whole lines leave in one write. So output is flushed
// when the input is drained, not once per record.
'use strict';

const failKeys = new Set((process.env.FAIL_KEYS || '').split(',').filter(Boolean));

// answer returns the answer to one record: an object, one JSON line.
function answer(rec) {
  if (rec.attempt > 1) {
    console.error(`retrying key ${rec.key} (${rec.topic}/${rec.partition}@${rec.offset}), attempt ${rec.attempt}`);
  }
  if (failKeys.has(rec.key)) return { error: `refused key ${rec.key}` };
  const { key, key_b64, headers, value, value_b64 } = rec;
  return { key, key_b64, headers, value: value?.toUpperCase(), value_b64 }; // undefined fields are left out
}

let rest = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  const lines = (rest + chunk).split('\n');
  rest = lines.pop();
  const out = lines.map((line) => JSON.stringify(answer(JSON.parse(line))) + '\n').join('');
  if (out && !process.stdout.write(out)) {
    // swarm reads answers as fast as it can; wait for it rather than buffer without bound.
    process.stdin.pause();
    process.stdout.once('drain', () => process.stdin.resume());
  }
});
