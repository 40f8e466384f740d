import { describe, expect, it } from 'vitest';
import { CertificateError, certificateProblem, withCertificateProblem } from '../../src/hub/transfer.js';

/** An error shaped as Node's TLS socket gives it: OpenSSL's words and code, no host. */
const tlsError = (message: string, code: string) => Object.assign(new Error(message), { code });
const cdn = new URL('https://cdn-lfs.hf.co:443/repos/ab/cd?X-Amz-Signature=x');

describe('a refused TLS certificate', () => {
  it('names the host and, for an untrusted chain, how to trust a private CA', () => {
    const said = certificateProblem(tlsError('unable to get local issuer certificate', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'), new URL('https://huggingface.co/api/models/x/y'));
    expect(said).toMatch(/^the TLS certificate of huggingface\.co is not trusted on this machine: unable to get local issuer certificate \(UNABLE_TO_GET_ISSUER_CERT_LOCALLY\)\./);
    expect(said).toContain('NODE_EXTRA_CA_CERTS');
    expect(certificateProblem(tlsError('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN'), cdn)).toMatch(/^the TLS certificate of cdn-lfs\.hf\.co is not trusted/);
  });

  it('says a certificate for another host or out of date as such, without the CA hint', () => {
    const misnamed = certificateProblem(tlsError("Hostname/IP does not match certificate's altnames", 'ERR_TLS_CERT_ALTNAME_INVALID'), new URL('https://127.0.0.2:8443/x'));
    expect(misnamed).toBe("the TLS certificate 127.0.0.2:8443 presented is not for that host: Hostname/IP does not match certificate's altnames (ERR_TLS_CERT_ALTNAME_INVALID).");
    const expired = certificateProblem(tlsError('certificate has expired', 'CERT_HAS_EXPIRED'), cdn);
    expect(expired).toMatch(/^the TLS certificate of cdn-lfs\.hf\.co is outside its dates of validity: certificate has expired \(CERT_HAS_EXPIRED\)\. Check the runner's clock\.$/);
    expect(expired).not.toContain('NODE_EXTRA_CA_CERTS');
  });

  it('leaves any other error as it is', () => {
    const reset = tlsError('read ECONNRESET', 'ECONNRESET');
    expect(certificateProblem(reset, cdn)).toBeUndefined();
    expect(certificateProblem(new Error('no code'), cdn)).toBeUndefined();
    expect(certificateProblem('DEPTH_ZERO_SELF_SIGNED_CERT', cdn)).toBeUndefined();
    expect(withCertificateProblem(reset, cdn)).toBe(reset);
    const refused = withCertificateProblem(tlsError('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT'), cdn);
    expect(refused).toBeInstanceOf(CertificateError);
    expect((refused as Error).message).toMatch(/^the TLS certificate of cdn-lfs\.hf\.co is not trusted/);
  });
});
