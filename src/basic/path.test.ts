import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { cleanPath, pathUnder } from './path.js'

describe('cleanPath', () => {
  it('reduces the spellings that reach a naive /admin guard', () => {
    for (const p of ['//admin', '/x/../admin', '/./admin', '/admin/.', '///x//..//admin'])
      assert.equal(cleanPath(p), '/admin', p)
  })
  it('never climbs above the root and keeps a trailing slash', () => {
    assert.equal(cleanPath('/../../etc/passwd'), '/etc/passwd')
    assert.equal(cleanPath('..'), '/')
    assert.equal(cleanPath(''), '/')
    assert.equal(cleanPath('/a/b/'), '/a/b/')
    assert.equal(cleanPath('/a/b/../'), '/a/')
  })
  it('pathUnder matches whole segments', () => {
    assert.equal(pathUnder('//admin/x', '/admin'), true)
    assert.equal(pathUnder('/administrator', '/admin'), false)
    assert.equal(pathUnder('/x/../admin', '/admin/'), true)
    assert.equal(pathUnder('/anything', '/'), true)
  })
})
