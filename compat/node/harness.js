'use strict'
// harness.js is what the library suites share: the settings run.sh passes in, one PASS or FAIL
// line per check, and a recorder of the HTTP exchanges behind each check, so that a FAIL line says
// what the library sent and what it got. The API keys never reach a line: the recorder prints
// the query with api_key removed.

const http = require('node:http')
const https = require('node:https')
const assert = require('node:assert/strict')
const { inspect } = require('node:util')

function env (name) {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set (run the suite through compat/run.sh)`)
  return v
}

// settings: what run.sh hands every suite. shimURL is the shim's origin; key holds
// balance (a two-decimal string) on the sandbox; brokeKey holds 0.00; badKey is unknown to it.
const settings = {
  shimURL: env('COMPAT_SHIM_URL'),
  key: env('COMPAT_KEY'),
  balance: env('COMPAT_BALANCE'),
  brokeKey: env('COMPAT_BROKE_KEY'),
  badKey: env('COMPAT_BAD_KEY'),
  smsDelayMs: Number(env('COMPAT_SMS_DELAY_MS'))
}

// redact hides the keys in a line that quotes an error or an answer.
function redact (line) {
  let out = line
  for (const k of [settings.key, settings.brokeKey, settings.badKey]) out = out.replaceAll(k, '<key>')
  return out
}

// exchanges holds the requests of the check that runs now.
let exchanges = []

function describe (ex) {
  const q = new URLSearchParams(ex.query)
  q.delete('api_key')
  const body = ex.body === undefined ? '(no answer)' : JSON.stringify(ex.body.length > 300 ? ex.body.slice(0, 300) + '…' : ex.body)
  const err = ex.error ? ` error ${ex.error}` : ''
  return `${ex.method} ${ex.path}?${q} -> ${ex.status ?? '-'} ${ex.contentType ?? ''} ${body}${err}`
}

// Wrap request on both modules to record every exchange of the process (the libraries call
// these through axios and follow-redirects). It is installed after redirect.js, when that is
// loaded, and so sees the request as the library made it.
for (const mod of [http, https]) {
  const orig = mod.request
  mod.request = function request (...args) {
    const req = orig.apply(this, args)
    const [path, query] = String(req.path).split('?')
    const ex = { method: req.method, path, query: query || '' }
    exchanges.push(ex)
    req.on('error', (e) => { ex.error = e.code || e.message })
    req.on('response', (res) => {
      ex.status = res.statusCode
      ex.contentType = res.headers['content-type']
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => { ex.body = Buffer.concat(chunks).toString('utf8') })
    })
    return req
  }
  mod.get = function get (...args) {
    const req = mod.request(...args)
    req.end()
    return req
  }
}

// WIRE_SHOWN is how many of a failed check's last exchanges its FAIL line quotes.
const WIRE_SHOWN = 4

// reason says in one line why a check failed: the assertion's own message, or what it got and
// wanted when assert wrote the message, or the error the library threw.
function reason (e) {
  if (!(e instanceof assert.AssertionError)) return `${e.name} ${JSON.stringify(e.code ?? '')}: ${e.message}`
  if (!e.generatedMessage) return e.message.split('\n')[0]
  const show = (v) => inspect(v, { breakLength: Infinity, depth: 4 })
  return `got ${show(e.actual)}, want ${show(e.expected)}`
}

// Suite runs checks in order and prints one line each: "PASS <lib> <name>" or
// "FAIL <lib> <name>: <why>; <the exchanges>". A check is an async function that throws on a
// wrong answer; later checks may use what earlier ones returned (state), and a check whose
// input is missing fails saying which check it needed.
class Suite {
  constructor (lib) {
    this.lib = lib
    this.failed = 0
    this.state = {}
  }

  async check (name, fn) {
    exchanges = []
    try {
      await fn(this.state)
      process.stdout.write(`PASS ${this.lib} ${name}\n`)
    } catch (e) {
      this.failed++
      const wire = exchanges.slice(-WIRE_SHOWN).map(describe).join(' | ')
      const earlier = exchanges.length > WIRE_SHOWN ? `(${exchanges.length - WIRE_SHOWN} earlier) ` : ''
      const line = `FAIL ${this.lib} ${name}: ${reason(e)}${wire ? '; wire: ' + earlier + wire : ''}`
      process.stdout.write(redact(line).replace(/\s*\n+\s*/g, ' ') + '\n')
    }
  }

  need (key, from) {
    if (this.state[key] === undefined) throw new Error(`needs ${from} to have passed`)
    return this.state[key]
  }
}

// rejects asserts that promise p rejects with an error for which match returns true, and
// returns that error. match gets the error; describe says what was wanted.
async function rejects (p, match, wanted) {
  let v
  try {
    v = await p
  } catch (e) {
    if (match(e)) return e
    throw new assert.AssertionError({ message: `wanted ${wanted}, got ${e.name} ${JSON.stringify(e.code ?? e.message)}` })
  }
  throw new assert.AssertionError({ message: `wanted ${wanted}, got a result: ${JSON.stringify(v)?.slice(0, 300)}` })
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// poll calls fn until done(value) is true or deadline ms pass, and returns every value seen.
async function poll (fn, done, deadline) {
  const seen = []
  const end = Date.now() + deadline
  for (;;) {
    const v = await fn()
    seen.push(v)
    if (done(v) || Date.now() > end) return seen
    await sleep(250)
  }
}

module.exports = { settings, Suite, rejects, poll, sleep, assert }
