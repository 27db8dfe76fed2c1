// docs/asyncapi.yaml against the AsyncAPI 3.0.0 JSON schema (@asyncapi/specs), every $ref resolved, and each
// message example against its own payload schema. The message names are checked against the gateway's code by
// test/Tivo.Tests/Gateway/AsyncApiTests.cs, so the document and the protocol cannot drift apart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import specs from "@asyncapi/specs";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import { parse } from "yaml";

const path = fileURLToPath(new URL("../../docs/asyncapi.yaml", import.meta.url));
const document = parse(readFileSync(path, "utf8"), { merge: true });

function resolve(ref) {
  assert.ok(ref.startsWith("#/"), `only local references are used: ${ref}`);
  return ref.slice(2).split("/").reduce((node, key) => node?.[key.replace(/~1/g, "/").replace(/~0/g, "~")], document);
}

function* refs(node, at = "#") {
  if (Array.isArray(node)) {
    for (const [i, n] of node.entries()) yield* refs(n, `${at}/${i}`);
  } else if (node && typeof node === "object") {
    for (const [key, value] of Object.entries(node)) {
      if (key === "$ref") yield [at, value];
      else yield* refs(value, `${at}/${key}`);
    }
  }
}

test("docs/asyncapi.yaml is a valid AsyncAPI 3.0.0 document", () => {
  assert.equal(document.asyncapi, "3.0.0");
  // The AsyncAPI schema bundles the draft-07 meta-schema itself: Ajv must not add its own copy.
  const ajv = new Ajv({ allErrors: true, strict: false, meta: false, validateSchema: false });
  addFormats(ajv);
  const validate = ajv.compile(specs.schemas["3.0.0"]);
  const ok = validate(document);
  assert.ok(ok, JSON.stringify(validate.errors?.slice(0, 5), null, 2));
});

test("every $ref in docs/asyncapi.yaml points at something", () => {
  for (const [at, ref] of refs(document)) {
    assert.notEqual(resolve(ref), undefined, `${at}: ${ref} does not resolve`);
  }
});

test("every message example matches its message's payload schema", () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  // Payload schemas refer to #/components/schemas/…: give the validator the whole document to resolve them in.
  ajv.addSchema({ $id: "asyncapi", components: document.components }, "asyncapi");
  let checked = 0;
  for (const [name, message] of Object.entries(document.components.messages)) {
    const schema = JSON.parse(JSON.stringify(message.payload).replaceAll('"#/components/', '"asyncapi#/components/'));
    const validate = ajv.compile(schema);
    for (const example of message.examples ?? []) {
      assert.ok(validate(example.payload), `${name} example ${example.name}: ${JSON.stringify(validate.errors)}`);
      checked++;
    }
  }
  assert.ok(checked > 0);
});
