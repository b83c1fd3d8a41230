#!/usr/bin/env ruby
# frozen_string_literal: true

# A swarm handler in Ruby (standard library only), for -codec json.
#
# Run it with swarm:
#
#   swarm -topics orders -output-topic out -dead-letter-topic dlq -- ruby examples/ruby/handler.rb
#
# Each record's value goes to -output-topic upper-cased, with its key and
# headers. A record whose key is listed in FAIL_KEYS (comma-separated) is
# answered {"error": ...}: swarm retries it after -retry-backoff with
# "attempt" one more (logged here to stderr), then dead-letters it.
#
# Answers stream: each readpartial takes whatever swarm has sent so far (up
# to 64 KiB), and the answers to its whole lines leave in one write. So
# output is flushed when the input is drained, not once per record.
require "json"

FAIL_KEYS = ENV.fetch("FAIL_KEYS", "").split(",")

# The answer to one record: a Hash, one JSON line.
def answer(rec)
  if rec["attempt"] > 1
    warn "retrying key #{rec["key"]} (#{rec["topic"]}/#{rec["partition"]}@#{rec["offset"]}), attempt #{rec["attempt"]}"
  end
  return { "error" => "refused key #{rec["key"]}" } if FAIL_KEYS.include?(rec["key"])

  out = rec.slice("key", "key_b64", "headers", "value_b64")
  out["value"] = rec["value"].upcase if rec["value"]
  out
end

rest = +""
loop do
  rest << STDIN.readpartial(1 << 16)
  *lines, rest = rest.split("\n", -1)
  STDOUT.write(lines.map { |line| "#{JSON.generate(answer(JSON.parse(line)))}\n" }.join)
  STDOUT.flush
rescue EOFError
  break
end
