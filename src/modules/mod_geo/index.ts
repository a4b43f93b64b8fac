import { readFileSync } from 'node:fs'
import { type CityResponse, Reader } from 'mmdb-lib'
import { BfeConfError } from '../../basic/errors.js'
import type { BfeRequest } from '../../basic/request.js'
import { ini } from '../../config/ini.js'
import { CallbackPoint, HandlerResult } from '../../module/callback-point.js'
import type { Loaded, ModuleContext } from '../../module/context.js'
import type { BfeModule } from '../../module/types.js'

/** mod_geo.conf (spec/modules.md §16). */
const confSchema = {
  Basic: { GeoDBPath: ini.string('mod_geo/geo.db') },
  Log: { OpenDebug: ini.bool(false) },
} as const

/**
 * The `req.context` keys mod_geo sets (BFE's names, read by mod_header variables and by
 * `req_context_value_in`). Every value is a string.
 */
export const GeoContext = {
  CountryIsoCode: 'mod_geo.country_iso_code',
  SubdivisionIsoCode: 'mod_geo.subdivision_iso_code',
  CityName: 'mod_geo.city_name',
  Latitude: 'mod_geo.latitude',
  Longitude: 'mod_geo.longitude',
} as const

/** Opens a MaxMind DB file; a file that is not one is a configuration error naming it. */
export function openGeoDb(file: string): Reader<CityResponse> {
  let buf: Buffer
  try {
    buf = readFileSync(file)
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err)
    throw new BfeConfError(file, '', `cannot be read: ${msg}`, { cause: err })
  }
  try {
    return new Reader<CityResponse>(buf)
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err)
    throw new BfeConfError(file, '', `is not a MaxMind database: ${msg}`, { cause: err })
  }
}

/** A coordinate as text, in plain decimal notation (no exponent), shortest form. */
export function coordText(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '0'
  const t = String(n)
  if (!t.includes('e')) return t
  return n.toFixed(20).replace(/\.?0+$/, '')
}

/** Writes the geo fields of `rec` (or empty ones when the address is not in the database). */
export function setGeoContext(req: BfeRequest, rec: CityResponse | null): void {
  const c = req.context
  c.set(GeoContext.CountryIsoCode, rec?.country?.iso_code ?? '')
  c.set(GeoContext.SubdivisionIsoCode, rec?.subdivisions?.[0]?.iso_code ?? '')
  c.set(GeoContext.CityName, rec?.city?.names?.en ?? '')
  c.set(GeoContext.Latitude, coordText(rec?.location?.latitude))
  c.set(GeoContext.Longitude, coordText(rec?.location?.longitude))
}

/** `::ffff:1.2.3.4` → `1.2.3.4`; other addresses unchanged. */
function plainIp(addr: string): string {
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr
}

/**
 * mod_geo: at HandleBeforeLocation, looks the client address up in a MaxMind City database and
 * stores country, subdivision, city (English), latitude and longitude in `req.context`
 * (GeoContext keys). `/reload/mod_geo` reopens the database (`?path=` names another file).
 */
export function createModGeo(): BfeModule {
  return {
    name: 'mod_geo',
    init(ctx: ModuleContext): void {
      const conf = ctx.readConf(confSchema)
      const debug = conf.Log.OpenDebug
      const m = ctx.metrics(['ERR_RELOAD_GEO_DATABASE', 'ERR_GET_GEO_INFO'])
      let starting = true
      const db = ctx.reloadable(
        'mod_geo',
        ctx.confFile(conf.Basic.GeoDBPath || 'mod_geo/geo.db'),
        (file): Loaded<Reader<CityResponse>> => {
          try {
            return { value: openGeoDb(file) }
          } catch (err) {
            if (!starting) m.ERR_RELOAD_GEO_DATABASE++
            throw err
          }
        },
      )
      starting = false
      ctx.callbacks.addRequestFilter(
        CallbackPoint.BeforeLocation,
        function geo(req) {
          const addr = req.clientAddr
          if (addr === undefined) return HandlerResult.GoOn
          let rec: CityResponse | null
          try {
            rec = db.value.get(plainIp(addr))
          } catch (err) {
            // An address the reader cannot parse, or a damaged record.
            m.ERR_GET_GEO_INFO++
            if (debug) ctx.log.debug({ addr, err }, 'geo lookup failed')
            return HandlerResult.GoOn
          }
          setGeoContext(req, rec)
          if (debug)
            ctx.log.debug(
              { addr, country: req.context.get(GeoContext.CountryIsoCode) },
              'geo lookup',
            )
          return HandlerResult.GoOn
        },
        'geo',
      )
    },
  }
}
