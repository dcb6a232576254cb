// The demo's mailbox: a local SMTP server that prints every message it receives, so a person
// trying `make demo` can read the one-time passcodes the identity runtime sends.
// Usage: node scripts/demo-mailbox.mjs <port>
import { startSmtpServer } from '../tests/runtime/lib/smtp.js';

const port = Number(process.argv[2] || 0);
const mailbox = await startSmtpServer({ port });
console.log(`mailbox listening on 127.0.0.1:${mailbox.port}`);
let seen = 0;
setInterval(() => {
  for (const message of mailbox.messages.slice(seen)) {
    const code = message.body.match(/\b(\d{6})\b/);
    console.log(`${new Date().toISOString()} to ${message.to.join(', ')}: ${message.headers.subject || ''}${code ? ` — passcode ${code[1]}` : ''}`);
  }
  seen = mailbox.messages.length;
}, 250);
