// A non-Python producer: Node's built-in fetch against Squall's REST API (squall dev on 127.0.0.1).
// Usage: node fetch_client.mjs <api base URL> <token>; prints one JSON document with what it saw.
// Every wait is bounded: at most 200 reads, 100 ms apart.

const [base, token] = process.argv.slice(2);
if (!base || !base.startsWith("http://127.0.0.1:")) {
  console.error("give the API's loopback URL and a token");
  process.exit(2);
}
const auth = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };

async function call(method, path, body, headers = auth) {
  const response = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: response.status, body: await response.json() };
}

const seen = {};
seen.openapi = (await call("GET", "/openapi.json", undefined, {})).body.openapi;
seen.unauthorized = (await call("POST", "/tasks", { task: "x" }, { "Content-Type": "application/json" })).status;
seen.unknown = await call("POST", "/tasks", { task: "no.such.task" });
seen.refused = await call("POST", "/tasks", { target: "http://169.254.169.254/latest/meta-data/", payload: {} });
const sent = await call("POST", "/tasks", { task: "examples.shop.tasks.charge", args: ["o-node", 250] }, {
  ...auth,
  "Idempotency-Key": "node-charge-1",
});
seen.sent = sent;
let task = null;
for (let i = 0; i < 200; i++) {
  task = await call("GET", `/tasks/${sent.body.id}`);
  if (task.body.state === "SUCCESS" || task.body.state === "DEAD") break;
  await new Promise((resolve) => setTimeout(resolve, 100));
}
seen.task = task;
console.log(JSON.stringify(seen));
