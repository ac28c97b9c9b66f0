// The container's health check: exit 0 when Tally's admin listener answers GET /readyz with 200
// (up, store answering, master key opening it), 1 otherwise. Plain node, as the image has no curl.
// Reads the same TALLY_ADMIN_PORT and TALLY_ADMIN_TLS_CERT as Tally; asks on loopback, so the
// certificate's name is not checked (it is Tally's own listener in the same container).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

const port = Number(process.env.TALLY_ADMIN_PORT || 8081);
const secure = Boolean(process.env.TALLY_ADMIN_TLS_CERT);
const request = secure ? httpsRequest : httpRequest;
const probe = request({ host: '127.0.0.1', port, path: '/readyz', timeout: 4000, rejectUnauthorized: false }, (response) => {
  response.resume();
  process.exit(response.statusCode === 200 ? 0 : 1);
});
probe.on('timeout', () => probe.destroy(new Error('timed out')));
probe.on('error', () => process.exit(1));
probe.end();
