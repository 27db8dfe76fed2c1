// deploy/kubernetes, checked offline: every object against the Kubernetes API's JSON schemas (kubernetes-models),
// and the deployment's own rules — probes on every container, no CPU limit on silos, references that resolve.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const folder = resolve(fileURLToPath(new URL("../../deploy/kubernetes", import.meta.url)));
const files = readdirSync(folder).filter((f) => f.endsWith(".yaml"));
const docs = files.flatMap((file) =>
  parseAllDocuments(readFileSync(join(folder, file), "utf8")).map((d) => ({ file, object: d.toJS() })).filter((d) => d.object));
const objects = docs.filter((d) => d.object.kind !== "Kustomization");
const byKind = (kind) => objects.filter((d) => d.object.kind === kind).map((d) => d.object);

async function model(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : [null, apiVersion];
  const path = group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
  return (await import(path))[kind];
}

test("every object is valid against the Kubernetes API schema", async () => {
  assert.ok(objects.length >= 10, `found ${objects.length} objects`);
  for (const { file, object } of objects) {
    const Model = await model(object.apiVersion, object.kind);
    assert.doesNotThrow(() => new Model(object).validate(), `${file}: ${object.kind} ${object.metadata?.name}`);
  }
});

test("a schema error is caught (the check can fail)", async () => {
  const Deployment = await model("apps/v1", "Deployment");
  const broken = structuredClone(byKind("Deployment")[0]);
  broken.spec.template.spec.containers[0].ports[0].containerPort = "eighty";
  assert.throws(() => new Deployment(broken).validate());
});

test("kustomization lists every file and only existing ones", () => {
  const kustomization = docs.find((d) => d.object.kind === "Kustomization").object;
  assert.deepEqual([...kustomization.resources].sort(), files.filter((f) => f !== "kustomization.yaml").sort());
  for (const r of kustomization.resources) assert.ok(existsSync(join(folder, r)), r);
});

test("silos and gateways: probes on health endpoints, no CPU limit on silos, disruption budgets", () => {
  const deployments = byKind("Deployment");
  assert.deepEqual(deployments.map((d) => d.metadata.name).sort(), ["tivo-gateway", "tivo-silo"]);
  for (const d of deployments) {
    for (const c of d.spec.template.spec.containers) {
      assert.equal(c.readinessProbe?.httpGet?.path, "/healthz", `${d.metadata.name} readiness`);
      assert.equal(c.livenessProbe?.httpGet?.path, "/livez", `${d.metadata.name} liveness`);
      assert.ok(c.resources?.requests?.cpu, `${d.metadata.name} requests CPU`);
    }
    const pdb = byKind("PodDisruptionBudget").find((p) =>
      Object.entries(p.spec.selector.matchLabels).every(([k, v]) => d.spec.template.metadata.labels[k] === v));
    assert.ok(pdb, `a PodDisruptionBudget selects ${d.metadata.name}`);
  }
  const silo = deployments.find((d) => d.metadata.name === "tivo-silo");
  for (const c of silo.spec.template.spec.containers) assert.equal(c.resources.limits?.cpu, undefined, "no CPU limit on silos");
  assert.ok(silo.spec.replicas >= 3 && silo.spec.strategy.rollingUpdate.maxUnavailable === 0);
  const env = Object.fromEntries(silo.spec.template.spec.containers[0].env.map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath ?? e.value]));
  assert.equal(env.Tivo__Orleans__AdvertisedAddress, "status.podIP");
  assert.equal(env.Tivo__Orleans__SiloName, "metadata.name");
});

test("the schema job, config and secret references resolve", () => {
  const job = byKind("Job")[0];
  assert.deepEqual(job.spec.template.spec.containers[0].args, ["schema"]);
  const names = (kind) => new Set(byKind(kind).map((o) => o.metadata.name));
  const [configMaps, secrets, accounts] = [names("ConfigMap"), names("Secret"), names("ServiceAccount")];
  for (const w of [...byKind("Deployment"), ...byKind("Job")]) {
    const spec = w.spec.template.spec;
    if (spec.serviceAccountName) assert.ok(accounts.has(spec.serviceAccountName), spec.serviceAccountName);
    for (const c of spec.containers) {
      for (const from of c.envFrom ?? []) {
        if (from.configMapRef) assert.ok(configMaps.has(from.configMapRef.name), from.configMapRef.name);
        if (from.secretRef) assert.ok(secrets.has(from.secretRef.name), from.secretRef.name);
      }
    }
  }
  const config = byKind("ConfigMap")[0].data;
  assert.equal(config.Tivo__Orleans__Clustering, "AdoNet");
  for (const service of byKind("Service")) {
    assert.ok(byKind("Deployment").some((d) =>
      Object.entries(service.spec.selector).every(([k, v]) => d.spec.template.metadata.labels[k] === v)), `${service.metadata.name} selects pods`);
  }
});
