"""OpenAPI v3 validation of custom resources (crvalidate.py): every rule, every write path, the 422 shape of a real
server, and the version-dependent parts (--server-version: nulls at 1.19 vs 1.20, item paths and cause reasons at
1.29)."""
import json
import os

from fakeclient import FakeServer
from util import ServerTest

HERE = os.path.dirname(os.path.abspath(__file__))
CRD = os.path.join(HERE, "testdata", "gadgets-crd.yaml")
TOP = os.path.normpath(os.path.join(HERE, "..", ".."))
G = "/apis/test.example.com/v1/namespaces/val/gadgets"


def gadget(obj_name, **spec):
    spec.setdefault("name", "abc")
    return {"apiVersion": "test.example.com/v1", "kind": "Gadget", "metadata": {"name": obj_name}, "spec": spec}


class GadgetTest(ServerTest):
    version = "1.19"
    extra = ()

    @classmethod
    def setUpClass(cls):
        cls.server_args = ("--time-scale", "0.02", "--server-version", cls.version, "--crds", CRD) + tuple(cls.extra)
        super().setUpClass()
        cls.c.post("/api/v1/namespaces", {"metadata": {"name": "val"}})

    def refused(self, r, field, message, reason="FieldValueInvalid", name=None):
        """A 422 as a real server sends it for one schema violation."""
        self.assertEqual(r.status, 422, r.body)
        b = r.json()
        name = name or b["details"]["name"]
        self.assertEqual({k: b[k] for k in ("kind", "apiVersion", "status", "reason", "code")},
                         {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Invalid", "code": 422})
        self.assertEqual(b["message"], 'Gadget.test.example.com "%s" is invalid: %s: %s' % (name, field, message))
        self.assertEqual(b["details"], {"name": name, "group": "test.example.com", "kind": "Gadget",
                                        "causes": [{"reason": reason, "message": message, "field": field}]})

    def create(self, name, **spec):
        r = self.c.post(G, gadget(name, **spec))
        self.assertEqual(r.status, 201, r.body)
        return r.json()


class RulesTest(GadgetTest):
    """1.19 (the default)."""

    def test_valid_object_is_stored_with_defaults(self):
        o = self.create("ok", count=10, ratio=0.5, big=2 ** 40, mode="Slow", when="2026-01-02T03:04:05Z", flag=True,
                        size="50%", tags=["a"], items=[{"name": "a"}, {"name": "b"}], free={"x": None, "y": ""})
        self.assertEqual(o["spec"]["color"], "blue")
        self.assertEqual(o["spec"]["free"], {"x": None, "y": ""})

    def test_pattern_and_lengths(self):
        self.refused(self.c.post(G, gadget("p1", name="ABC")), "spec.name",
                     "Invalid value: \"ABC\": spec.name in body should match '^[a-z]+$'")
        self.refused(self.c.post(G, gadget("p2", name="a")), "spec.name",
                     'Invalid value: "a": spec.name in body should be at least 2 chars long')
        self.refused(self.c.post(G, gadget("p3", name="abcdefghi")), "spec.name",
                     'Invalid value: "abcdefghi": spec.name in body should be at most 8 chars long')

    def test_numbers(self):
        self.refused(self.c.post(G, gadget("n1", count=0)), "spec.count",
                     "Invalid value: 0: spec.count in body should be greater than or equal to 1")
        self.refused(self.c.post(G, gadget("n2", count=11)), "spec.count",
                     "Invalid value: 11: spec.count in body should be less than or equal to 10")
        self.refused(self.c.post(G, gadget("n3", ratio=0)), "spec.ratio",
                     "Invalid value: 0: spec.ratio in body should be greater than 0")
        self.refused(self.c.post(G, gadget("n4", ratio=1.0)), "spec.ratio",
                     "Invalid value: 1: spec.ratio in body should be less than 1")
        self.assertEqual(self.c.post(G, gadget("n5", count=2.0)).status, 201)   # an integral number is an integer

    def test_types(self):
        self.refused(self.c.post(G, gadget("t1", count="3")), "spec.count",
                     'Invalid value: "string": spec.count in body must be of type integer: "string"')
        self.refused(self.c.post(G, gadget("t2", count=2.5)), "spec.count",
                     'Invalid value: "number": spec.count in body must be of type integer: "number"')
        self.refused(self.c.post(G, gadget("t3", flag="yes")), "spec.flag",
                     'Invalid value: "string": spec.flag in body must be of type boolean: "string"')
        self.refused(self.c.post(G, gadget("t4", size=True)), "spec.size",
                     'Invalid value: "boolean": spec.size in body must be of type integer,string: "boolean"')
        self.refused(self.c.post(G, gadget("t5", free="x")), "spec.free",
                     'Invalid value: "string": spec.free in body must be of type object: "string"')

    def test_enum_format_required(self):
        self.refused(self.c.post(G, gadget("e1", mode="Medium")), "spec.mode",
                     'Unsupported value: "Medium": supported values: "Fast", "Slow"', "FieldValueNotSupported")
        self.refused(self.c.post(G, gadget("e2", when="yesterday")), "spec.when",
                     'Invalid value: "yesterday": spec.when in body must be of type date-time: "yesterday"')
        self.refused(self.c.post(G, gadget("e3", when="2026-01-02T03:04:05")), "spec.when",
                     'Invalid value: "2026-01-02T03:04:05": spec.when in body must be of type date-time: '
                     '"2026-01-02T03:04:05"')
        body = gadget("e4")
        del body["spec"]["name"]
        self.refused(self.c.post(G, body), "spec.name", "Required value", "FieldValueRequired")
        self.refused(self.c.post(G, gadget("e5", items=[{"value": "v"}])), "spec.items.0.name", "Required value",
                     "FieldValueRequired")

    def test_items_and_list_map_keys(self):
        self.refused(self.c.post(G, gadget("i1", tags=[])), "spec.tags",
                     "Invalid value: 0: spec.tags in body should have at least 1 items")
        self.refused(self.c.post(G, gadget("i2", tags=["a", "b", "c", "d"])), "spec.tags",
                     "Invalid value: 4: spec.tags in body should have at most 3 items")
        self.refused(self.c.post(G, gadget("i3", tags=["a", 1])), "spec.tags.1",
                     'Invalid value: "integer": spec.tags.1 in body must be of type string: "integer"')
        self.refused(self.c.post(G, gadget("i4", items=[{"name": "a"}, {"name": "b"}, {"name": "a", "value": "x"}])),
                     "spec.items[2]", 'Duplicate value: map[string]interface {}{"name":"a"}', "FieldValueDuplicate")

    def test_several_errors_in_one_answer(self):
        r = self.c.post(G, gadget("m1", name="X", count="3"))
        self.assertEqual(r.status, 422)
        b = r.json()
        self.assertEqual(b["message"], 'Gadget.test.example.com "m1" is invalid: [spec.name: Invalid value: "X": spec.name '
                         'in body should be at least 2 chars long, spec.count: Invalid value: "string": spec.count in body '
                         'must be of type integer: "string"]')
        self.assertEqual([c["field"] for c in b["details"]["causes"]], ["spec.name", "spec.count"])

    def test_every_write_path(self):
        o = self.create("w1")
        W = G + "/w1"
        bad = dict(o, spec=dict(o["spec"], count=0))
        msg = "Invalid value: 0: spec.count in body should be greater than or equal to 1"
        self.refused(self.c.put(W, bad), "spec.count", msg)
        self.refused(self.c.patch(W, {"spec": {"count": 0}}), "spec.count", msg)
        self.refused(self.c.patch(W, [{"op": "add", "path": "/spec/count", "value": 0}], "application/json-patch+json"),
                     "spec.count", msg)
        r = self.c.request("PATCH", W + "?fieldManager=t", json.dumps(gadget("w1", count=0)).encode(),
                           headers={"Content-Type": "application/apply-patch+yaml"})
        self.refused(r, "spec.count", msg)
        # status subresource writes are validated too (the whole object)
        smsg = 'Invalid value: "soon": status.startTime in body must be of type date-time: "soon"'
        self.refused(self.c.patch(W + "/status", {"status": {"startTime": "soon"}}), "status.startTime", smsg)
        cur = self.c.get(W).json()
        self.refused(self.c.put(W + "/status", dict(cur, status={"startTime": "soon"})), "status.startTime", smsg)
        # a status change through the main resource is dropped, so it is not validated either
        self.assertEqual(self.c.patch(W, {"status": {"startTime": "soon"}}).status, 200)
        ok = self.c.patch(W + "/status", {"status": {"startTime": "2026-01-02T03:04:05.123Z"}})
        self.assertEqual(ok.status, 200, ok.body)
        self.assertEqual(self.c.get(W).json()["spec"].get("count"), None)    # nothing bad was stored

    def test_preserve_unknown_fields_subtree(self):
        self.create("u1", free={"n": None, "e": "", "deep": {"x": [1, "a", None]}})
        self.assertEqual(self.c.patch(G + "/u1", {"spec": {"free": {"k": 5}}}).status, 200)


class Nulls119Test(GadgetTest):
    def test_null_refused_unless_nullable(self):
        self.refused(self.c.post(G, gadget("z1", when=None)), "spec.when",
                     'Invalid value: "null": spec.when in body must be of type string: "null"')
        self.refused(self.c.post(G, gadget("z2", tags=None)), "spec.tags",
                     'Invalid value: "null": spec.tags in body must be of type array: "null"')
        o = self.create("z3", note=None)
        self.assertIn("note", o["spec"])
        self.assertIsNone(o["spec"]["note"])

    def test_merge_patch_null_still_deletes(self):
        self.create("z4", mode="Fast")
        r = self.c.patch(G + "/z4", {"spec": {"mode": None}})
        self.assertEqual(r.status, 200, r.body)
        self.assertNotIn("mode", r.json()["spec"])
        # but a null inside a list a merge patch replaces is a value, not a delete
        self.refused(self.c.patch(G + "/z4", {"spec": {"items": [{"name": "a", "value": None}]}}), "spec.items.0.value",
                     'Invalid value: "null": spec.items.0.value in body must be of type string: "null"')
        self.refused(self.c.patch(G + "/z4", [{"op": "add", "path": "/spec/count", "value": None}],
                                  "application/json-patch+json"), "spec.count",
                     'Invalid value: "null": spec.count in body must be of type integer: "null"')

    def test_null_in_an_enum_field_fails_both_checks(self):
        # go-openapi runs the type and the enum validators on a null
        r = self.c.post(G, gadget("z5", mode=None))
        self.assertEqual(r.status, 422)
        self.assertEqual([(c["reason"], c["message"]) for c in r.json()["details"]["causes"]],
                         [("FieldValueInvalid", 'Invalid value: "null": spec.mode in body must be of type string: "null"'),
                          ("FieldValueNotSupported", 'Unsupported value: "null": supported values: "Fast", "Slow"')])


class Nulls120Test(GadgetTest):
    version = "1.20"

    def test_nulls_pruned(self):
        o = self.create("y1", mode=None, tags=None, note=None, color=None, items=[{"name": "a", "value": None}])
        self.assertNotIn("mode", o["spec"])
        self.assertNotIn("tags", o["spec"])
        self.assertIsNone(o["spec"]["note"])          # nullable: kept
        self.assertEqual(o["spec"]["color"], "blue")  # null with a default: defaulted
        self.assertEqual(o["spec"]["items"], [{"name": "a"}])
        r = self.c.patch(G + "/y1/status", {"status": {"message": None, "phase": "Running"}})
        self.assertEqual((r.status, r.json()["status"]), (200, {"phase": "Running"}))

    def test_merge_patch_null_deletes(self):
        self.create("y2", mode="Fast")
        r = self.c.patch(G + "/y2", {"spec": {"mode": None}})
        self.assertEqual(r.status, 200, r.body)
        self.assertNotIn("mode", r.json()["spec"])


class Modern129Test(GadgetTest):
    version = "1.29"

    def test_reasons_and_paths(self):
        self.refused(self.c.post(G, gadget("x1", count="3")), "spec.count",
                     'Invalid value: "string": spec.count in body must be of type integer: "string"', "FieldValueTypeInvalid")
        self.refused(self.c.post(G, gadget("x2", name="abcdefghi")), "spec.name", "Too long: may not be longer than 8",
                     "FieldValueTooLong")
        self.refused(self.c.post(G, gadget("x3", tags=["a", "b", "c", "d"])), "spec.tags",
                     "Too many: 4: must have at most 3 items", "FieldValueTooMany")
        self.refused(self.c.post(G, gadget("x4", items=[{"value": "v"}])), "spec.items[0].name", "Required value",
                     "FieldValueRequired")
        self.assertEqual(self.create("x5", mode=None)["spec"].get("mode", "absent"), "absent")


NULL_STR = 'Invalid value: "null": %s in body must be of type string: "null"'


class EmptyStrings119Test(GadgetTest):
    """--reject-empty-strings: kubernetes#99804, every typed, non-nullable "" is taken for a null."""
    extra = ("--reject-empty-strings",)

    def test_flag_reported(self):
        self.assertIs(self.c.get("/fake/info").json()["reject_empty_strings"], True)

    def test_every_write_path(self):
        o = self.create("s1", mode="Fast")
        W = G + "/s1"
        self.refused(self.c.patch(W + "/status", {"status": {"message": ""}}), "status.message",
                     NULL_STR % "status.message")
        self.refused(self.c.post(G, gadget("s2", mode="Fast", free={"a": 1}, tags=["x", ""])), "spec.tags.1",
                     NULL_STR % "spec.tags.1")
        self.refused(self.c.put(W, dict(o, spec=dict(o["spec"], color=""))), "spec.color", NULL_STR % "spec.color")
        self.refused(self.c.patch(W, [{"op": "add", "path": "/spec/items", "value": [{"name": "a", "value": ""}]}],
                                  "application/json-patch+json"), "spec.items.0.value", NULL_STR % "spec.items.0.value")
        self.refused(self.c.patch(W, {"spec": {"size": ""}}), "spec.size",
                     'Invalid value: "null": spec.size in body must be of type integer,string: "null"')
        cur = self.c.get(W).json()
        self.refused(self.c.put(W + "/status", dict(cur, status={"phase": ""})), "status.phase", NULL_STR % "status.phase")

    def test_other_validators_still_run(self):
        r = self.c.post(G, gadget("s3", when=""))
        self.assertEqual([(c["field"], c["message"]) for c in r.json()["details"]["causes"]],
                         [("spec.when", NULL_STR % "spec.when"),
                          ("spec.when", 'Invalid value: "": spec.when in body must be of type date-time: ""')])

    def test_nullable_and_untyped_fields_accept_empty(self):
        o = self.create("s4", note="", free={"e": "", "deep": {"x": ""}})
        self.assertEqual((o["spec"]["note"], o["spec"]["free"]["e"]), ("", ""))
        r = self.c.patch(G + "/s4/status", {"status": {"phase": "Running", "message": None}})
        self.assertEqual(r.status, 200, r.body)


class EmptyStringsOff119Test(GadgetTest):
    def test_accepted_without_the_flag(self):
        self.create("f1", color="", items=[{"name": "a", "value": ""}])
        self.assertEqual(self.c.patch(G + "/f1/status", {"status": {"message": ""}}).status, 200)
        self.assertIs(self.c.get("/fake/info").json()["reject_empty_strings"], False)


class EmptyStrings121Test(GadgetTest):
    """The bug was fixed in 1.21: the flag has no effect there."""
    version = "1.21"
    extra = ("--reject-empty-strings",)

    def test_no_effect(self):
        self.create("g1", color="")
        self.assertEqual(self.c.patch(G + "/g1/status", {"status": {"message": ""}}).status, 200)
        self.assertIs(self.c.get("/fake/info").json()["reject_empty_strings"], False)


class RealCrdsTest(ServerTest):
    """The project's own CRDs as the fake loads them (--crds crds/)."""
    server_args = ("--time-scale", "0.02", "--crds", os.path.join(TOP, "crds"))

    def test_omjob_status_message_empty_with_reject_empty_strings(self):
        srv = FakeServer("--time-scale", "0.02", "--crds", os.path.join(TOP, "crds"), "--reject-empty-strings").start()
        try:
            c = srv.client("cert")
            c.post("/api/v1/namespaces", {"metadata": {"name": "om"}})
            O = "/apis/pipelines.openmetadata.org/v1/namespaces/om/omjobs"
            body = {"apiVersion": "pipelines.openmetadata.org/v1", "kind": "OMJob", "metadata": {"name": "o"},
                    "spec": {"mainPodSpec": {"image": "busybox", "command": ["true"]},
                             "exitHandlerSpec": {"image": "busybox", "command": ["true"]}}}
            r = c.post(O, body)
            self.assertEqual(r.status, 201, r.body)
            r = c.patch(O + "/o/status", {"status": {"phase": "Running", "message": ""}})
            self.assertEqual(r.status, 422, r.body)
            self.assertEqual(r.json()["message"], 'OMJob.pipelines.openmetadata.org "o" is invalid: status.message: '
                             'Invalid value: "null": status.message in body must be of type string: "null"')
            self.assertEqual(c.patch(O + "/o/status", {"status": {"phase": "Running"}}).status, 200)
        finally:
            srv.cleanup()

    def test_sequentialjob_duplicate_container_names(self):
        self.ns("sq")
        body = {"apiVersion": "batch.example.com/v1alpha1", "kind": "SequentialJob", "metadata": {"name": "s"},
                "spec": {"containers": [{"name": "a", "image": "busybox"}, {"name": "a", "image": "busybox"}]}}
        r = self.c.post("/apis/batch.example.com/v1alpha1/namespaces/sq/sequentialjobs", body)
        self.assertEqual(r.status, 422, r.body)
        self.assertEqual(r.json()["message"], 'SequentialJob.batch.example.com "s" is invalid: spec.containers[1]: '
                         'Duplicate value: map[string]interface {}{"name":"a"}')
        body["spec"]["containers"][1]["name"] = "b"
        self.assertEqual(self.c.post("/apis/batch.example.com/v1alpha1/namespaces/sq/sequentialjobs", body).status, 201)


if __name__ == "__main__":
    import unittest
    unittest.main()
