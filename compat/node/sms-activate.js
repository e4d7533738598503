'use strict'
// sms-activate.js drives npm sms-activate@1.0.1 (lib/index.js) through its whole API against the
// shim. The library hard-codes http://sms-activate.ru/stubs/handler_api.php, so run.sh loads
// redirect.js before this file (node --require), as a user would. Its methods: getBalance(withCashBack),
// getNumber(service, country, forward), getStatus(id) (the word before the first colon),
// getCode(id) (the code of STATUS_OK, else null), setStatus(id, status, forward) (the raw answer).
// Every answer goes through its substring checks first: BAD_KEY, ERROR_SQL, NO_BALANCE,
// NO_NUMBERS, BAD_STATUS, BAD_SERVICE, NO_ACTIVATION and BANNED become its own error classes.

const SMSActivate = require('sms-activate')
const { settings, Suite, rejects, poll, assert } = require('./harness')

const LIB = 'sms-activate@1.0.1'
const NEVER_ISSUED = 999999999 // a 9-digit id below 2^31 that the shim never hands out
const TURKEY = 62
const USA = 187
const NIUE = 204 // tg in Niue is the sandbox's one offer with stock 0

async function main () {
  const s = new Suite(LIB)
  const api = new SMSActivate(settings.key)
  // parseInt of the balance string: the library drops the decimals.
  const wantBalance = parseInt(settings.balance, 10)

  await s.check('getBalance', async () => {
    const v = await api.getBalance()
    assert.equal(v, wantBalance, `getBalance() = ${JSON.stringify(v)}, want the number ${wantBalance}`)
  })

  await s.check('getBalance(true) (getBalanceAndCashBack)', async () => {
    const v = await api.getBalance(true)
    assert.equal(v, wantBalance, `getBalance(true) = ${JSON.stringify(v)}, want the number ${wantBalance} (balance plus cashback 0)`)
  })

  await s.check('getNumber', async (st) => {
    const n = await api.getNumber('wa', TURKEY)
    assert.ok(n !== null, 'getNumber returned null (answer was not ACCESS_NUMBER:<id>:<phone>)')
    assert.ok(Number.isInteger(n.id) && n.id >= 1 && n.id <= 2147483647, `id ${JSON.stringify(n.id)} is not an integer in 1..2^31-1`)
    assert.ok(Number.isSafeInteger(n.number) && /^90\d{10}$/.test(String(n.number)), `number ${JSON.stringify(n.number)} is not a Turkish number 90XXXXXXXXXX`)
    st.first = n
  })

  await s.check('getStatus polling until the code', async (st) => {
    const { id } = s.need('first', 'getNumber')
    const seen = await poll(() => api.getStatus(id), (v) => v !== 'STATUS_WAIT_CODE', settings.smsDelayMs + 10000)
    assert.equal(seen[0], 'STATUS_WAIT_CODE', `first getStatus = ${JSON.stringify(seen[0])}, want "STATUS_WAIT_CODE"`)
    assert.equal(seen.at(-1), 'STATUS_OK', `getStatus went ${JSON.stringify(seen)}, want "STATUS_WAIT_CODE" then "STATUS_OK"`)
    st.gotCode = true
  })

  await s.check('getCode', async (st) => {
    const { id } = s.need('first', 'getNumber')
    s.need('gotCode', 'getStatus polling until the code')
    const code = await api.getCode(id)
    assert.ok(typeof code === 'string' && /^\d{4,8}$/.test(code), `getCode = ${JSON.stringify(code)}, want the SMS code as a digit string`)
    st.code = code
  })

  await s.check('setStatus 3 (another SMS)', async (st) => {
    const { id } = s.need('first', 'getNumber')
    const code = s.need('code', 'getCode')
    assert.equal(await api.setStatus(id, 3), 'ACCESS_RETRY_GET')
    // getStatus keeps only the word; getCode reads the code of STATUS_OK only.
    assert.equal(await api.getStatus(id), 'STATUS_WAIT_RETRY', `getStatus after setStatus 3, the last code was ${code}`)
    assert.equal(await api.getCode(id), null, 'getCode while waiting for another SMS')
  })

  await s.check('setStatus 6 (finish)', async () => {
    const { id } = s.need('first', 'getNumber')
    assert.equal(await api.setStatus(id, 6), 'ACCESS_ACTIVATION')
    // A finished activation cannot be cancelled: the library turns BAD_STATUS into BadStatus.
    await rejects(api.setStatus(id, 8), (e) => e.name === 'BadStatus', 'BadStatus for setStatus 8 after the finish')
  })

  await s.check('setStatus 1 (ready)', async (st) => {
    const n = await api.getNumber('tg', USA)
    assert.ok(n !== null && Number.isInteger(n.id) && /^1\d{10}$/.test(String(n.number)), `getNumber tg USA = ${JSON.stringify(n)}`)
    assert.notEqual(n.id, s.need('first', 'getNumber').id, 'the second purchase got the id of the first')
    st.second = n
    assert.equal(await api.setStatus(n.id, 1), 'ACCESS_READY')
  })

  await s.check('setStatus 8 (cancel)', async () => {
    const { id } = s.need('second', 'setStatus 1 (ready)')
    const before = await api.getBalance()
    assert.equal(await api.setStatus(id, 8), 'ACCESS_CANCEL')
    assert.equal(await api.getStatus(id), 'STATUS_CANCEL', 'getStatus after the cancel')
    // The wa purchase (0.50) was finished, the tg one refunded: the balance is the start minus 0.50
    // (parseInt drops the decimals), at least what it was before the refund.
    const after = await api.getBalance()
    assert.equal(after, parseInt((Number(settings.balance) - 0.5).toFixed(2), 10), `balance after the refund = ${after}`)
    assert.ok(after >= before, `balance went from ${before} to ${after} on a refund`)
  })

  await s.check('BAD_KEY', async () => {
    const wrong = new SMSActivate(settings.badKey)
    await rejects(wrong.getBalance(), (e) => e.name === 'InvalidAPIKey', 'InvalidAPIKey from getBalance')
    await rejects(wrong.getNumber('wa', TURKEY), (e) => e.name === 'InvalidAPIKey', 'InvalidAPIKey from getNumber')
  })

  await s.check('NO_ACTIVATION', async () => {
    await rejects(api.getStatus(NEVER_ISSUED), (e) => e.name === 'InvalidActivation', 'InvalidActivation from getStatus')
    await rejects(api.getCode(NEVER_ISSUED), (e) => e.name === 'InvalidActivation', 'InvalidActivation from getCode')
    await rejects(api.setStatus(NEVER_ISSUED, 8), (e) => e.name === 'InvalidActivation', 'InvalidActivation from setStatus')
  })

  await s.check('NO_NUMBERS', async () => {
    await rejects(api.getNumber('tg', NIUE), (e) => e.name === 'NoFreeNumbers', 'NoFreeNumbers for tg in Niue')
  })

  await s.check('NO_BALANCE', async () => {
    const broke = new SMSActivate(settings.brokeKey)
    await rejects(broke.getNumber('wa', TURKEY), (e) => e.name === 'NoBalance', 'NoBalance from a key holding 0.00')
  })

  return s.failed
}

main().then((failed) => { process.exitCode = failed ? 1 : 0 }, (e) => {
  process.stdout.write(`FAIL ${LIB} suite: ${e.stack}\n`)
  process.exitCode = 1
})
