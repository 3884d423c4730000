// Drives a running `vigil serve` with Microsoft's Graph JavaScript client,
// as a partner's tooling would: list, $filter, $count, $select, $orderby,
// paging with PageIterator, get, PATCH, and errors. It prints one JSON
// object with what it saw; server/graphclient_test.go asserts on it.
//
// Environment: VIGIL_URL (https://127.0.0.1:PORT/), VIGIL_TOKEN (a
// read-write partner token), NODE_EXTRA_CA_CERTS (the test's authority).
import graph from "@microsoft/microsoft-graph-client";

const { Client, PageIterator, GraphError } = graph;

const base = process.env.VIGIL_URL;
const token = process.env.VIGIL_TOKEN;
if (!base || !token) {
  console.error("VIGIL_URL and VIGIL_TOKEN are required");
  process.exit(2);
}

// The SDK attaches the token only to https URLs of Graph's hosts or of the
// custom hosts named here.
const client = Client.init({
  authProvider: (done) => done(null, token),
  baseUrl: base,
  defaultVersion: "v1.0",
  customHosts: new Set([new URL(base).hostname]),
});

const alerts = "/security/partner/securityAlerts";
const out = {};

// An error as the SDK surfaces it.
function describe(e) {
  let body = e.body;
  try {
    body = JSON.parse(e.body);
  } catch {
    // not JSON: keep the text
  }
  return {
    isGraphError: e instanceof GraphError,
    statusCode: e.statusCode,
    code: e.code,
    message: e.message,
    body,
  };
}

async function step(name, fn) {
  try {
    out[name] = await fn();
  } catch (e) {
    out[name] = { thrown: describe(e) };
  }
}

await step("list", async () => {
  const r = await client.api(alerts).get();
  return { ids: r.value.map((a) => a.id), types: r.value.map((a) => a.alertType) };
});

await step("filterCount", async () => {
  const r = await client.api(alerts).filter("alertType eq 'KV_TORAccess' and status eq 'active'").count(true).get();
  return { count: r["@odata.count"], n: r.value.length };
});

await step("selectOrderby", async () => {
  const r = await client.api(alerts).select(["id", "alertType", "firstObservedDateTime"]).orderby("firstObservedDateTime desc").get();
  return {
    keys: [...new Set(r.value.flatMap((a) => Object.keys(a)))].sort(),
    firstObserved: r.value.map((a) => a.firstObservedDateTime),
  };
});

await step("pages", async () => {
  const first = await client.api(alerts).orderby("firstObservedDateTime asc").top(2).get();
  const ids = [];
  const links = []; // the nextLink of the page each item came on
  const it = new PageIterator(client, first, (a) => {
    ids.push(a.id);
    links.push(it.nextLink ?? null);
    return true;
  });
  await it.iterate();
  return { ids, pages: new Set(links).size, nextLinks: [...new Set(links)], complete: it.isComplete() };
});

let target = null;
await step("get", async () => {
  const list = await client.api(alerts).orderby("firstObservedDateTime asc").top(1).get();
  target = list.value[0].id;
  const a = await client.api(`${alerts}/${target}`).get();
  return { id: a.id, alertType: a.alertType, status: a.status, customerTenantId: a.customerTenantId };
});

await step("patch", async () => {
  const r = await client.api(`${alerts}/${target}`).patch({ status: "resolved", resolvedReason: "fraud" });
  const after = await client.api(`${alerts}/${target}`).select(["id", "status", "resolvedReason"]).get();
  return { response: r ?? null, after };
});

await step("notFound", async () => client.api(`${alerts}/no-such-alert`).get());
await step("badFilter", async () => client.api(alerts).filter("nosuchproperty eq 1").get());
await step("badPatch", async () => client.api(`${alerts}/${target}`).patch({ status: "resolved" }));

process.stdout.write(JSON.stringify(out) + "\n");
