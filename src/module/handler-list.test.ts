import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BfeRequest } from '../basic/request.js'
import { Session } from '../basic/session.js'
import { HandlerResult } from './callback-point.js'
import { runAcceptFilters, runRequestFilters, runResponseFilters } from './handler-list.js'
import type { RequestFilter } from './types.js'

const ses = new Session({ remoteAddr: '10.0.0.1', remotePort: 1234 })
const req = new BfeRequest(ses, { method: 'GET', rawUri: '/', proto: 'HTTP/1.1', headers: [] })

test('a synchronous chain returns a number, never a Promise', () => {
  const calls: number[] = []
  const list: RequestFilter[] = [1, 2, 3].map((i) => () => {
    calls.push(i)
    return HandlerResult.GoOn
  })
  const r = runRequestFilters(list, req)
  assert.equal(r, HandlerResult.GoOn)
  assert.deepEqual(calls, [1, 2, 3])
})

test('the chain stops at the first result that is not GoOn', () => {
  const calls: number[] = []
  const list: RequestFilter[] = [
    () => {
      calls.push(1)
      return HandlerResult.GoOn
    },
    () => {
      calls.push(2)
      return HandlerResult.Redirect
    },
    () => {
      calls.push(3)
      return HandlerResult.GoOn
    },
  ]
  assert.equal(runRequestFilters(list, req), HandlerResult.Redirect)
  assert.deepEqual(calls, [1, 2])
})

test('an async filter turns the rest of the chain async and resumes after it', async () => {
  const calls: number[] = []
  const list: RequestFilter[] = [
    () => {
      calls.push(1)
      return HandlerResult.GoOn
    },
    () => {
      calls.push(2)
      return Promise.resolve(HandlerResult.GoOn)
    },
    () => {
      calls.push(3)
      return HandlerResult.Response
    },
    () => {
      calls.push(4)
      return HandlerResult.GoOn
    },
  ]
  const r = runRequestFilters(list, req)
  assert.ok(r instanceof Promise)
  assert.equal(await r, HandlerResult.Response)
  assert.deepEqual(calls, [1, 2, 3])
})

test('an async non-GoOn result stops the chain', async () => {
  let third = false
  const r = runAcceptFilters(
    [
      () => Promise.resolve(HandlerResult.Close),
      () => {
        third = true
        return HandlerResult.GoOn
      },
    ],
    ses,
  )
  assert.equal(await r, HandlerResult.Close)
  assert.equal(third, false)
})

test('response filters receive the request and the response', () => {
  let seen: unknown
  const r = runResponseFilters(
    [
      (_q, res) => {
        seen = res
        return HandlerResult.Finish
      },
    ],
    req,
    undefined,
  )
  assert.equal(r, HandlerResult.Finish)
  assert.equal(seen, undefined)
  assert.equal(runResponseFilters([], req, undefined), HandlerResult.GoOn)
})
