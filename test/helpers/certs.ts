// Test PKI built on the openssl CLI (OpenSSL 3.0+): a CA, leaves signed by it, a CRL and OCSP
// responses, all written into one temp directory. Synchronous and quick (EC P-256 keys).
// Nothing generated here is ever committed; call cleanup() when done.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A certificate and its key, as files and as PEM text. */
export interface CertPair {
  /** Base name (files are `<name>.crt` and `<name>.key` in the PKI directory). */
  readonly name: string
  readonly certFile: string
  readonly keyFile: string
  readonly certPem: string
  readonly keyPem: string
  /** Serial number, upper-case hex as openssl prints it (no leading zeros). */
  readonly serial: string
}

export interface LeafOptions {
  /** Subject CN; omitted when ''. Default: the first DNS name, else the name. */
  cn?: string
  /** DNS subjectAltNames (wildcards allowed). */
  dns?: string[]
  /** IP subjectAltNames. */
  ips?: string[]
  /** Validity in days (default 2). */
  days?: number
}

export interface CrlFiles {
  /** PEM CRL. */
  readonly pemFile: string
  readonly pem: string
  /** The same CRL in DER. */
  readonly derFile: string
}

const OPENSSL_CNF = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[self_ext]
basicConstraints = critical,CA:FALSE
subjectKeyIdentifier = hash
[ca]
default_ca = test_ca
[test_ca]
database = $dir/index.txt
default_md = sha256
crl_extensions = crl_ext
[crl_ext]
authorityKeyIdentifier = keyid:always
`

// six hex digits, so serials have an even number of digits as the CA database expects
let serialCounter = 0x100000 + Math.floor(Math.random() * 0x700000)

/** Runs openssl; its stderr is part of the thrown error. */
export function openssl(args: string[], cwd?: string): string {
  return execFileSync('openssl', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

/**
 * A throw-away PKI: `ca` is created at construction. Every certificate is an EC P-256 key signed
 * with SHA-256. The CA's database (`index.txt`) records every certificate it issues so that
 * `crl()` and `ocspResponse()` can report their status.
 */
export class TestPki {
  readonly dir: string
  readonly ca: CertPair
  private readonly cnf: string
  private readonly index: string[] = []

  constructor(prefix = 'bfe-pki-') {
    this.dir = mkdtempSync(join(tmpdir(), prefix))
    this.cnf = join(this.dir, 'openssl.cnf')
    writeFileSync(this.cnf, OPENSSL_CNF.replace('$dir', this.dir))
    writeFileSync(join(this.dir, 'index.txt'), '')
    this.ca = this.issue('ca', '/CN=bfe-ts test CA', 'ca_ext', [], 3, false)
  }

  /** A server certificate signed by the CA (EKU serverAuth). */
  server(name: string, opts: LeafOptions = {}): CertPair {
    return this.leaf(name, 'server_ext', opts, true)
  }

  /** A client certificate signed by the CA (EKU clientAuth). */
  client(name: string, opts: LeafOptions = {}): CertPair {
    return this.leaf(name, 'client_ext', opts, true)
  }

  /** A self-signed certificate (not issued by the CA, not in its database). */
  selfSigned(name: string, opts: LeafOptions = {}): CertPair {
    return this.leaf(name, 'self_ext', opts, false)
  }

  /** Marks `cert` revoked in the CA database (use `crl()` / `ocspResponse()` afterwards). */
  revoke(cert: CertPair): void {
    const i = this.index.findIndex((l) => l.split('\t')[3] === cert.serial)
    if (i === -1) throw new Error(`${cert.name} was not issued by this CA`)
    const parts = (this.index[i] ?? '').split('\t')
    parts[0] = 'R'
    parts[2] = asn1Time(new Date(Date.now() - 60_000))
    this.index[i] = parts.join('\t')
    this.writeIndex()
  }

  /** A client certificate that is already revoked, and a CRL (PEM and DER) revoking it. */
  revokedClient(name: string, opts: LeafOptions = {}): { cert: CertPair; crl: CrlFiles } {
    const cert = this.client(name, opts)
    this.revoke(cert)
    return { cert, crl: this.crl(`${name}-crl`) }
  }

  /** A CRL signed by the CA listing every certificate revoked so far (with AuthorityKeyId). */
  crl(name = 'ca-crl', days = 2): CrlFiles {
    const pemFile = join(this.dir, `${name}.pem`)
    const derFile = join(this.dir, `${name}.der`)
    openssl([
      'ca',
      '-batch',
      '-config',
      this.cnf,
      '-gencrl',
      '-keyfile',
      this.ca.keyFile,
      '-cert',
      this.ca.certFile,
      '-crldays',
      String(days),
      '-out',
      pemFile,
    ])
    openssl(['crl', '-in', pemFile, '-outform', 'DER', '-out', derFile])
    return { pemFile, pem: readFileSync(pemFile, 'utf8'), derFile }
  }

  /**
   * A DER OCSP response from the CA for `cert`, as written by `openssl ocsp` acting as responder
   * on the CA database: good, revoked or unknown depending on what the database says.
   * Returns the path of the DER file.
   */
  ocspResponse(cert: CertPair, out = `${cert.name}.ocsp.der`, days = 1): string {
    const file = join(this.dir, out)
    openssl([
      'ocsp',
      '-index',
      join(this.dir, 'index.txt'),
      '-rsigner',
      this.ca.certFile,
      '-rkey',
      this.ca.keyFile,
      '-CA',
      this.ca.certFile,
      '-issuer',
      this.ca.certFile,
      '-cert',
      cert.certFile,
      '-ndays',
      String(days),
      '-respout',
      file,
    ])
    return file
  }

  /** Writes `content` to `<dir>/<rel>` and returns the path. */
  write(rel: string, content: string | Uint8Array): string {
    const file = join(this.dir, rel)
    writeFileSync(file, content)
    return file
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true })
  }

  private leaf(name: string, ext: string, opts: LeafOptions, signed: boolean): CertPair {
    const dns = opts.dns ?? []
    const ips = opts.ips ?? []
    const cn = opts.cn ?? dns[0] ?? name
    const san = [...dns.map((d) => `DNS:${d}`), ...ips.map((ip) => `IP:${ip}`)]
    const subj = cn === '' ? '/O=bfe-ts test' : `/CN=${cn}`
    return this.issue(name, subj, ext, san, opts.days ?? 2, signed)
  }

  private issue(
    name: string,
    subj: string,
    ext: string,
    san: string[],
    days: number,
    signed: boolean,
  ): CertPair {
    const certFile = join(this.dir, `${name}.crt`)
    const keyFile = join(this.dir, `${name}.key`)
    serialCounter += 1
    const serial = serialCounter.toString(16).toUpperCase()
    const args = [
      'req',
      '-x509',
      '-config',
      this.cnf,
      '-extensions',
      ext,
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-subj',
      subj,
      '-days',
      String(days),
      '-set_serial',
      `0x${serial}`,
    ]
    if (san.length > 0) args.push('-addext', `subjectAltName=${san.join(',')}`)
    if (signed) args.push('-CA', this.ca.certFile, '-CAkey', this.ca.keyFile)
    openssl(args)
    const pair: CertPair = {
      name,
      certFile,
      keyFile,
      certPem: readFileSync(certFile, 'utf8'),
      keyPem: readFileSync(keyFile, 'utf8'),
      serial,
    }
    if (signed) {
      const expiry = asn1Time(new Date(Date.now() + days * 86_400_000))
      this.index.push(['V', expiry, '', serial, 'unknown', subj].join('\t'))
      this.writeIndex()
    }
    return pair
  }

  private writeIndex(): void {
    writeFileSync(join(this.dir, 'index.txt'), this.index.map((l) => `${l}\n`).join(''))
  }
}

/** UTCTime as the openssl CA database writes it: YYMMDDHHMMSSZ. */
function asn1Time(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0')
  return `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(
    d.getUTCHours(),
  )}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`
}
