'use strict'
// redirect.js sends a Node program's HTTP(S) requests for the SMS-Activate hosts to the shim
// instead, the way an /etc/hosts entry would, but with the shim's port and scheme as well. Load it
// before the program, without touching the program or its libraries:
//
//   SHIM_REDIRECT_URL=http://127.0.0.1:8080 node --require ./compat/node/redirect.js bot.js
//
// SHIM_REDIRECT_URL (required) is the shim's origin: scheme, host and port; a path is ignored,
// the request keeps its own (/stubs/handler_api.php). SHIM_REDIRECT_HOSTS (optional) is a comma
// list of host names to redirect and replaces the default list below. Requests for other hosts go
// out unchanged. It patches request and get of node:http and node:https, which axios, got,
// node-fetch and request all call; the global fetch (undici) does not go through them.

const http = require('node:http')
const https = require('node:https')
const { urlToHttpOptions } = require('node:url')

const DEFAULT_HOSTS = [
  'sms-activate.ru', 'api.sms-activate.ru',
  'sms-activate.org', 'api.sms-activate.org',
  'sms-activate.io', 'api.sms-activate.io',
  'sms-activate.ae', 'api.sms-activate.ae',
  'sms-activate.guru', 'api.sms-activate.guru',
  'sms-activate.page', 'api.sms-activate.page',
  'hero-sms.com'
]

function install (target, hostList) {
  const to = new URL(target)
  if (to.protocol !== 'http:' && to.protocol !== 'https:') {
    throw new Error(`SHIM_REDIRECT_URL must be http:// or https://, not ${to.protocol}`)
  }
  const hosts = new Set(hostList.map((h) => h.trim().toLowerCase()).filter(Boolean))
  const toModule = to.protocol === 'https:' ? https : http
  const toPort = to.port || (to.protocol === 'https:' ? '443' : '80')
  const originals = new Map([[http, { request: http.request }], [https, { request: https.request }]])

  // rewrite returns [options, callback] aimed at the shim, or null when the request is not for a
  // redirected host. It accepts every form request takes: (url[, options][, cb]) and (options[, cb]).
  function rewrite (args) {
    let [first, second, third] = args
    let options
    let cb
    if (typeof first === 'string' || first instanceof URL) {
      options = urlToHttpOptions(typeof first === 'string' ? new URL(first) : first)
      if (typeof second === 'function') {
        cb = second
      } else {
        options = { ...options, ...second }
        cb = third
      }
    } else {
      options = { ...first }
      cb = second
    }
    const host = String(options.hostname || options.host || '').replace(/:\d+$/, '').toLowerCase()
    if (!hosts.has(host)) return null
    const headers = { ...options.headers }
    if (!Object.keys(headers).some((k) => k.toLowerCase() === 'host')) headers.Host = host
    options.headers = headers
    options.protocol = to.protocol
    options.hostname = to.hostname.replace(/^\[|\]$/g, '')
    delete options.host
    options.port = toPort
    // An agent of the other scheme would refuse the request; the target module's default is used.
    if (options.agent && options.agent.protocol !== to.protocol) delete options.agent
    delete options.createConnection
    return [options, cb]
  }

  for (const mod of [http, https]) {
    mod.request = function request (...args) {
      const r = rewrite(args)
      if (!r) return originals.get(mod).request.apply(this, args)
      return originals.get(toModule).request.call(toModule, r[0], r[1])
    }
    mod.get = function get (...args) {
      const req = mod.request(...args)
      req.end()
      return req
    }
  }
}

if (!process.env.SHIM_REDIRECT_URL) {
  throw new Error('redirect.js: set SHIM_REDIRECT_URL to the shim origin, e.g. http://127.0.0.1:8080')
}
install(process.env.SHIM_REDIRECT_URL,
  process.env.SHIM_REDIRECT_HOSTS ? process.env.SHIM_REDIRECT_HOSTS.split(',') : DEFAULT_HOSTS)
