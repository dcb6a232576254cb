// A small SMTP server for the tests: speaks enough of RFC 5321 over a real socket (EHLO,
// AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) for the runtime's SMTP client, keeps
// every message, and lets a test wait for the next message to an address.
import net from 'node:net';

/** Decodes a quoted-printable body (soft line breaks and =XX escapes). */
function decodeQuotedPrintable(text) {
  return text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
}

/** Splits a raw message into lowercase-named headers and the decoded body. */
function parseMessage(raw) {
  const split = raw.indexOf('\r\n\r\n');
  const headerText = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  const headers = Object.fromEntries(
    headerText.split('\r\n').map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
    }),
  );
  let body = raw.slice(split + 4);
  const encoding = (headers['content-transfer-encoding'] || '').toLowerCase();
  if (encoding === 'quoted-printable') body = decodeQuotedPrintable(body);
  if (encoding === 'base64') body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  return { headers, body };
}

/** Starts the server on a loopback port (a free one unless `port` is given). */
export async function startSmtpServer({ port: wantedPort = 0 } = {}) {
  const messages = [];
  const listeners = new Set();
  const sockets = new Set();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setEncoding('utf8');
    let buffer = '';
    let envelope = null;
    let data = null;
    let auth = null;
    let loginStep = null;
    const reply = (line) => socket.write(`${line}\r\n`);
    reply('220 localhost ESMTP ciam-test');
    socket.on('data', (chunk) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\r\n'); end >= 0; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (data) {
          if (line === '.') {
            const raw = data.join('\r\n');
            const message = { ...envelope, auth, raw, ...parseMessage(raw) };
            messages.push(message);
            for (const listener of listeners) listener(message);
            data = null;
            envelope = null;
            reply('250 2.0.0 queued');
          } else {
            data.push(line.startsWith('..') ? line.slice(1) : line);
          }
          continue;
        }
        if (loginStep === 'user') {
          auth = { username: Buffer.from(line, 'base64').toString('utf8') };
          loginStep = 'password';
          reply('334 UGFzc3dvcmQ6');
          continue;
        }
        if (loginStep === 'password') {
          auth.password = Buffer.from(line, 'base64').toString('utf8');
          loginStep = null;
          reply('235 2.7.0 authenticated');
          continue;
        }
        const verb = line.split(' ')[0].toUpperCase();
        const argument = line.slice(verb.length).trim();
        if (verb === 'EHLO') {
          socket.write('250-localhost\r\n250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n');
        } else if (verb === 'HELO') {
          reply('250 localhost');
        } else if (verb === 'AUTH' && argument.toUpperCase().startsWith('PLAIN ')) {
          const [, username, password] = Buffer.from(argument.slice(6), 'base64').toString('utf8').split('\0');
          auth = { username, password };
          reply('235 2.7.0 authenticated');
        } else if (verb === 'AUTH' && argument.toUpperCase() === 'LOGIN') {
          loginStep = 'user';
          reply('334 VXNlcm5hbWU6');
        } else if (verb === 'MAIL') {
          envelope = { from: argument.replace(/^FROM:\s*/i, '').replace(/[<>]/g, '').split(' ')[0], to: [] };
          reply('250 2.1.0 OK');
        } else if (verb === 'RCPT') {
          envelope?.to.push(argument.replace(/^TO:\s*/i, '').replace(/[<>]/g, '').split(' ')[0]);
          reply('250 2.1.5 OK');
        } else if (verb === 'DATA') {
          data = [];
          reply('354 end data with <CR><LF>.<CR><LF>');
        } else if (verb === 'RSET') {
          envelope = null;
          reply('250 2.0.0 OK');
        } else if (verb === 'NOOP') {
          reply('250 2.0.0 OK');
        } else if (verb === 'QUIT') {
          reply('221 2.0.0 bye');
          socket.end();
        } else {
          reply('502 5.5.2 command not implemented');
        }
      }
    });
    socket.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(wantedPort, '127.0.0.1', resolve));
  const { port } = server.address();

  /** Resolves with the first message to `address` received after `since` (an index into messages). */
  function waitForMessage(address, { since = 0, timeoutMs = 20_000 } = {}) {
    const matches = (message) => message.to.includes(address);
    const earlier = messages.slice(since).find(matches);
    if (earlier) return Promise.resolve(earlier);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`no email to ${address} within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (message) => {
        if (!matches(message)) return;
        clearTimeout(timer);
        listeners.delete(listener);
        resolve(message);
      };
      listeners.add(listener);
    });
  }

  /** The six-digit passcode in a message. */
  const passcodeOf = (message) => {
    const found = message.body.match(/\b(\d{6})\b/);
    if (!found) throw new Error('no passcode in the email');
    return found[1];
  };

  return {
    port,
    messages,
    waitForMessage,
    passcodeOf,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
