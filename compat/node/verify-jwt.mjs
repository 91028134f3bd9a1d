// Verifies a JWT with the jose library, independently of the Go code.
// Input on stdin: {"token": "...", "jwk": {...public JWK...}, "audience": "..."}.
// Output on stdout: {"header": {...}, "payload": {...}}; exit 1 with the
// reason on stderr when jose rejects the token.
import { importJWK, jwtVerify } from 'jose';

let text = '';
for await (const chunk of process.stdin) text += chunk;
const input = JSON.parse(text);
try {
  const key = await importJWK(input.jwk, input.jwk.alg);
  const { payload, protectedHeader } = await jwtVerify(input.token, key, {
    audience: input.audience,
    algorithms: [input.jwk.alg],
    requiredClaims: ['sub', 'iat', 'exp'],
  });
  process.stdout.write(JSON.stringify({ header: protectedHeader, payload }) + '\n');
} catch (err) {
  process.stderr.write(`jose rejected the token: ${err.code ?? ''} ${err.message}\n`);
  process.exit(1);
}
