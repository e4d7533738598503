'use strict'
// hero-sms.js drives npm hero-sms@2.0.0 (dist/client.js) through its whole API against the shim,
// pointed there by its own option: new HeroSMSClient({ apiKey, baseUrl }). It GETs with every
// parameter in the query. Text answers first go through its error check (a body that is or
// starts with BAD_KEY, NO_KEY, NO_ACTIVATION, NO_NUMBERS, BAD_ACTION, BAD_STATUS, ... throws a
// HeroSMSError subclass; BANNED: and WRONG_MAX_PRICE: too); JSON answers are handed back as
// parsed, unchecked, except {title, details} error objects. getBalance parseFloats
// ACCESS_BALANCE:<n>; getNumber matches ACCESS_NUMBER:(\d+):(.+) into {activationId: number,
// phoneNumber: string}; getStatus accepts only the five STATUS_ answers. dist/types.d.ts says
// what the JSON methods return; where those compile-time types and the protocol reference
// (shared/reference/legacy-protocol.md, sections 4, 6 and 8) disagree, a check asserts what both
// allow and says so.

const hero = require('hero-sms')
const { settings, Suite, rejects, poll, assert } = require('./harness')

const LIB = 'hero-sms@2.0.0'
const NEVER_ISSUED = 999999999
const TURKEY = 62
const USA = 187
const NIUE = 204
const baseUrl = `${settings.shimURL}/stubs/handler_api.php`
const DATETIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/

const isCode = (e, cls, code) => e instanceof cls && e.code === code
const heroCode = (code) => (e) => isCode(e, hero.HeroSMSError, code)

async function main () {
  const s = new Suite(LIB)
  const api = new hero.HeroSMSClient({ apiKey: settings.key, baseUrl, timeout: 10000 })
  const wantBalance = parseFloat(settings.balance)

  // waitCode polls getStatus until STATUS_OK and returns the code; the first answer must be
  // STATUS_WAIT_CODE (the SMS comes COMPAT_SMS_DELAY_MS after the purchase).
  async function waitCode (id) {
    const seen = await poll(() => api.getStatus(id), (v) => v.status !== 'STATUS_WAIT_CODE', settings.smsDelayMs + 10000)
    assert.deepEqual(seen[0], { status: 'STATUS_WAIT_CODE' }, `first getStatus = ${JSON.stringify(seen[0])}`)
    const last = seen.at(-1)
    assert.ok(last.status === 'STATUS_OK' && /^\d{4,8}$/.test(last.code), `getStatus went ${JSON.stringify(seen)}, want STATUS_WAIT_CODE then STATUS_OK with a digit code`)
    return last.code
  }

  async function buy (service, country) {
    const n = await api.getNumber({ service, country })
    assert.ok(Number.isInteger(n.activationId) && n.activationId > 0 && n.activationId <= 2147483647, `getNumber = ${JSON.stringify(n)}`)
    return n
  }

  await s.check('getBalance', async () => {
    const v = await api.getBalance()
    assert.equal(v, wantBalance, `getBalance() = ${JSON.stringify(v)}, want the number ${wantBalance}`)
  })

  await s.check('getNumber', async (st) => {
    const n = await api.getNumber({ service: 'wa', country: TURKEY })
    assert.ok(Number.isInteger(n.activationId) && n.activationId >= 1 && n.activationId <= 2147483647, `activationId ${JSON.stringify(n.activationId)} is not an integer in 1..2^31-1`)
    assert.ok(typeof n.phoneNumber === 'string' && /^90\d{10}$/.test(n.phoneNumber), `phoneNumber ${JSON.stringify(n.phoneNumber)} is not a Turkish number string 90XXXXXXXXXX`)
    st.a = n
  })

  await s.check('getActiveActivations', async () => {
    const a = s.need('a', 'getNumber')
    const r = await api.getActiveActivations()
    // types.d.ts: { status: string; data: ActiveActivation[] }, activationId a string.
    assert.equal(r?.status, 'success', `status of ${JSON.stringify(r)?.slice(0, 200)}`)
    assert.ok(Array.isArray(r.data), `no "data" array (hero-sms reads the list from "data"; keys: ${Object.keys(r)})`)
    const it = r.data.find((x) => x.activationId === String(a.activationId))
    assert.ok(it, `data has no activationId "${a.activationId}" (a JSON string): ${JSON.stringify(r.data).slice(0, 200)}`)
    assert.equal(it.phoneNumber, a.phoneNumber)
    assert.equal(it.serviceCode, 'wa')
    assert.equal(String(it.countryCode), String(TURKEY))
    assert.ok(it.smsCode === null || typeof it.smsCode === 'string', `smsCode ${JSON.stringify(it.smsCode)} is not a string or null`)
  })

  await s.check('markReady (setStatus 1)', async () => {
    const a = s.need('a', 'getNumber')
    assert.equal(await api.markReady(a.activationId), 'ACCESS_READY')
  })

  await s.check('getStatus polling until the code', async (st) => {
    const a = s.need('a', 'getNumber')
    st.code = await waitCode(a.activationId)
  })

  await s.check('getStatusV2', async () => {
    const a = s.need('a', 'getNumber')
    const code = s.need('code', 'getStatus polling until the code')
    const r = await api.getStatusV2(a.activationId)
    // types.d.ts: { verificationType: number; sms: { dateTime, code, text }; call: CallInfo }.
    assert.equal(typeof r?.verificationType, 'number', `verificationType of ${JSON.stringify(r)}`)
    assert.equal(r.sms?.code, code, `sms.code of ${JSON.stringify(r)}, the code getStatus gave is ${code}`)
    assert.ok(typeof r.sms.text === 'string' && r.sms.text.includes(code), `sms.text ${JSON.stringify(r.sms.text)} does not hold the code`)
    // The native API gives no time of arrival, so the shim leaves dateTime out rather than
    // invent one; when a backend gives it, it must have the original's form.
    assert.ok(r.sms.dateTime === undefined || DATETIME.test(r.sms.dateTime), `sms.dateTime ${JSON.stringify(r.sms.dateTime)} is not "YYYY-MM-DD HH:MM:SS"`)
    await rejects(api.getStatusV2(NEVER_ISSUED), (e) => e instanceof hero.ActivationNotFoundError, 'ActivationNotFoundError from getStatusV2 of an id never issued')
  })

  await s.check('requestResend (setStatus 3)', async () => {
    const a = s.need('a', 'getNumber')
    const code = s.need('code', 'getStatus polling until the code')
    assert.equal(await api.requestResend(a.activationId), 'ACCESS_RETRY_GET')
    assert.deepEqual(await api.getStatus(a.activationId), { status: 'STATUS_WAIT_RETRY', code })
  })

  await s.check('complete (setStatus 6)', async () => {
    const a = s.need('a', 'getNumber')
    s.need('code', 'getStatus polling until the code')
    assert.equal(await api.complete(a.activationId), 'ACCESS_ACTIVATION')
    // A finished activation cannot be cancelled.
    await rejects(api.cancel(a.activationId), heroCode('BAD_STATUS'), 'HeroSMSError BAD_STATUS for cancel after complete')
  })

  await s.check('cancel (setStatus 8)', async () => {
    const b = await buy('tg', USA)
    assert.ok(/^1\d{10}$/.test(b.phoneNumber), `phoneNumber ${b.phoneNumber} is not a US number`)
    const before = await api.getBalance()
    assert.equal(await api.cancel(b.activationId), 'ACCESS_CANCEL')
    assert.deepEqual(await api.getStatus(b.activationId), { status: 'STATUS_CANCEL' })
    const after = await api.getBalance()
    assert.equal(Math.round((after - before) * 100), 50, `balance ${before} -> ${after}, want the 0.50 back`)
  })

  await s.check('getNumberV2', async (st) => {
    const r = await api.getNumberV2({ service: 'wa', country: TURKEY })
    assert.ok(r !== null && typeof r === 'object', `getNumberV2 = ${JSON.stringify(r)}, want a JSON object`)
    // Strings and a boolean where types.d.ts and the Go clients agree; the cost and the country
    // are numbers in types.d.ts and strings for the Go clients: either, with the right value.
    assert.ok(typeof r.activationId === 'string' && /^\d+$/.test(r.activationId) && Number(r.activationId) <= 2147483647, `activationId ${JSON.stringify(r.activationId)} is not a digit string below 2^31`)
    assert.ok(typeof r.phoneNumber === 'string' && /^90\d{10}$/.test(r.phoneNumber), `phoneNumber ${JSON.stringify(r.phoneNumber)} is not a Turkish number string`)
    assert.equal(Number(r.activationCost), 0.5, `activationCost ${JSON.stringify(r.activationCost)}`)
    assert.ok(['number', 'string'].includes(typeof r.activationCost), `activationCost ${JSON.stringify(r.activationCost)} is not a number or a decimal string`)
    assert.equal(String(r.countryCode), String(TURKEY), `countryCode ${JSON.stringify(r.countryCode)}`)
    assert.equal(typeof r.canGetAnotherSms, 'boolean', `canGetAnotherSms ${JSON.stringify(r.canGetAnotherSms)} is not a boolean`)
    assert.ok(typeof r.activationTime === 'string' && DATETIME.test(r.activationTime), `activationTime ${JSON.stringify(r.activationTime)} is not "YYYY-MM-DD HH:MM:SS"`)
    assert.ok(typeof r.activationEndTime === 'string' && DATETIME.test(r.activationEndTime) && r.activationEndTime > r.activationTime, `activationEndTime ${JSON.stringify(r.activationEndTime)} is not a "YYYY-MM-DD HH:MM:SS" after activationTime`)
    assert.ok(typeof r.activationOperator === 'string' && r.activationOperator !== '', `activationOperator ${JSON.stringify(r.activationOperator)}`)
    // The id works with the library's other methods as it came.
    assert.deepEqual(await api.getStatus(r.activationId), { status: 'STATUS_WAIT_CODE' })
    st.v2 = r
  })

  await s.check('finishActivation', async () => {
    const n = await buy('wa', TURKEY)
    await waitCode(n.activationId)
    const v = await api.finishActivation(n.activationId)
    assert.equal(v, undefined)
    await rejects(api.cancel(n.activationId), heroCode('BAD_STATUS'), 'HeroSMSError BAD_STATUS for cancel after finishActivation')
  })

  await s.check('cancelActivation', async () => {
    const n = await buy('wa', TURKEY)
    const before = await api.getBalance()
    const v = await api.cancelActivation(n.activationId)
    assert.equal(v, undefined)
    assert.deepEqual(await api.getStatus(n.activationId), { status: 'STATUS_CANCEL' })
    const after = await api.getBalance()
    assert.equal(Math.round((after - before) * 100), 50, `balance ${before} -> ${after}, want the 0.50 back`)
  })

  await s.check('getCountries', async () => {
    const r = await api.getCountries()
    assert.ok(r && typeof r === 'object' && !Array.isArray(r), `getCountries is not an object keyed by id: ${JSON.stringify(r)?.slice(0, 120)}`)
    const tr = r[String(TURKEY)]
    assert.ok(tr, `no key "${TURKEY}"`)
    assert.equal(tr.id, TURKEY)
    assert.equal(tr.eng, 'Turkey')
    assert.equal(tr.rus, 'Турция')
    assert.equal(r[String(USA)]?.eng, 'USA')
    for (const [k, c] of Object.entries(r)) {
      assert.equal(String(c.id), k, `country under key ${k} has id ${JSON.stringify(c.id)}`)
      assert.ok([0, 1].includes(c.visible) && [0, 1].includes(c.retry), `country ${k}: visible ${c.visible}, retry ${c.retry} are not 0 or 1`)
    }
  })

  await s.check('getServicesList', async () => {
    const r = await api.getServicesList({ country: TURKEY, lang: 'en' })
    // types.d.ts: { status: string; services: { code, name }[] }.
    assert.equal(r?.status, 'success', `status of ${JSON.stringify(r)?.slice(0, 200)}`)
    assert.ok(Array.isArray(r.services), 'services is not an array')
    const wa = r.services.find((x) => x.code === 'wa')
    assert.ok(wa && typeof wa.name === 'string' && wa.name !== '', `no {code:"wa", name} in ${JSON.stringify(r.services).slice(0, 200)}`)
  })

  await s.check('getOperators', async () => {
    const r = await api.getOperators(TURKEY)
    // types.d.ts: { status: string; countryOperators: Record<string, string[]> }.
    assert.equal(r?.status, 'success', `status of ${JSON.stringify(r)?.slice(0, 200)}`)
    const ops = r.countryOperators?.[String(TURKEY)]
    assert.ok(Array.isArray(ops) && ops.length > 0 && ops.every((o) => typeof o === 'string'), `countryOperators["${TURKEY}"] = ${JSON.stringify(ops)}, want an array of operator names`)
  })

  await s.check('getPrices filtered', async () => {
    const r = await api.getPrices({ service: 'wa', country: TURKEY })
    assert.deepEqual(Object.keys(r ?? {}), [String(TURKEY)], `country keys of ${JSON.stringify(r)?.slice(0, 200)}`)
    assert.deepEqual(Object.keys(r[TURKEY]), ['wa'])
    const p = r[TURKEY].wa
    assert.ok(p.cost === 0.5, `cost ${JSON.stringify(p.cost)}, want the JSON number 0.5`)
    assert.ok(Number.isInteger(p.count) && p.count > 0, `count ${JSON.stringify(p.count)}, want a positive JSON integer`)
  })

  await s.check('getPrices unfiltered', async () => {
    const r = await api.getPrices()
    assert.ok(r && typeof r === 'object' && !Array.isArray(r), `getPrices() = ${JSON.stringify(r)?.slice(0, 120)}`)
    for (const c of ['0', String(TURKEY), String(USA)]) {
      assert.equal(r[c]?.wa?.cost, 0.5, `r["${c}"].wa = ${JSON.stringify(r[c]?.wa)}`)
      assert.ok(Object.keys(r[c]).length > 1, `country ${c} lists only ${Object.keys(r[c])}`)
    }
    for (const [c, services] of Object.entries(r)) {
      for (const [svc, p] of Object.entries(services)) {
        assert.ok(typeof p.cost === 'number' && Number.isInteger(p.count), `r["${c}"]["${svc}"] = ${JSON.stringify(p)}`)
      }
    }
  })

  for (const [name, call] of Object.entries({
    getTopCountriesByService: () => api.getTopCountriesByService({ service: 'wa' }),
    getTopCountriesByServiceRank: () => api.getTopCountriesByServiceRank({ service: 'wa' })
  })) {
    await s.check(name, async () => {
      const r = await call()
      assert.ok(r && typeof r === 'object', `${name} = ${JSON.stringify(r)?.slice(0, 200)}`)
    const rows = Object.values(r)
    assert.ok(rows.length > 0, 'no countries')
    for (const row of rows) {
      for (const f of ['country', 'count', 'price', 'retail_price']) {
        assert.equal(typeof row[f], 'number', `${f} of ${JSON.stringify(row)} is not a JSON number`)
      }
    }
      const tr = rows.find((x) => x.country === TURKEY)
      assert.ok(tr && tr.price === 0.5, `Turkey at 0.5 not among ${JSON.stringify(rows).slice(0, 200)}`)
    })
  }

  await s.check('getNumber maxPrice below the price (WRONG_MAX_PRICE)', async () => {
    const e = await rejects(api.getNumber({ service: 'wa', country: TURKEY, maxPrice: 0.1 }),
      (e) => e instanceof hero.WrongMaxPriceError, 'WrongMaxPriceError')
    assert.equal(e.minimumPrice, 0.5)
  })

  await s.check('BAD_KEY', async () => {
    const wrong = new hero.HeroSMSClient({ apiKey: settings.badKey, baseUrl })
    await rejects(wrong.getBalance(), (e) => isCode(e, hero.AuthenticationError, 'BAD_KEY'), 'AuthenticationError BAD_KEY from getBalance')
    await rejects(wrong.getNumber({ service: 'wa', country: TURKEY }), (e) => isCode(e, hero.AuthenticationError, 'BAD_KEY'), 'AuthenticationError BAD_KEY from getNumber')
  })

  await s.check('NO_ACTIVATION', async () => {
    const notFound = (e) => e instanceof hero.ActivationNotFoundError
    await rejects(api.getStatus(NEVER_ISSUED), notFound, 'ActivationNotFoundError from getStatus')
    await rejects(api.cancel(NEVER_ISSUED), notFound, 'ActivationNotFoundError from cancel')
  })

  await s.check('NO_NUMBERS', async () => {
    await rejects(api.getNumber({ service: 'tg', country: NIUE }), (e) => e instanceof hero.NoNumbersError, 'NoNumbersError for tg in Niue')
  })

  await s.check('NO_BALANCE', async () => {
    // hero-sms knows NO_BALANCE only as a JSON error; the text answer fails its ACCESS_NUMBER
    // match, so it throws HeroSMSError PARSE_ERROR holding the answer.
    const broke = new hero.HeroSMSClient({ apiKey: settings.brokeKey, baseUrl })
    await rejects(broke.getNumber({ service: 'wa', country: TURKEY }),
      (e) => e instanceof hero.HeroSMSError && e.rawResponse === 'NO_BALANCE', 'HeroSMSError with the answer NO_BALANCE')
  })

  // hero-sms methods for actions of HeroSMS's own API that the shim does not serve (history,
  // all SMS, reactivation, rent): the library must get BAD_ACTION and throw it as
  // HeroSMSError, not hand back other data.
  const unserved = {
    getHistory: () => api.getHistory({ size: 10 }),
    getAllSms: () => api.getAllSms({ id: String(NEVER_ISSUED) }),
    reactivate: () => api.reactivate(NEVER_ISSUED),
    getReactivationPrice: () => api.getReactivationPrice(NEVER_ISSUED),
    getRentPrices: () => api.getRentPrices({ service: 'wa', country: TURKEY }),
    getRentServicesAndCountries: () => api.getRentServicesAndCountries({ country: TURKEY, duration: 4 }),
    getRentNumber: () => api.getRentNumber({ service: 'wa', country: TURKEY, duration: 4 })
  }
  for (const [name, call] of Object.entries(unserved)) {
    await s.check(`${name} (not served: BAD_ACTION)`, async () => {
      await rejects(call(), heroCode('BAD_ACTION'), 'HeroSMSError BAD_ACTION')
    })
  }

  return s.failed
}

main().then((failed) => { process.exitCode = failed ? 1 : 0 }, (e) => {
  process.stdout.write(`FAIL ${LIB} suite: ${e.stack}\n`)
  process.exitCode = 1
})
