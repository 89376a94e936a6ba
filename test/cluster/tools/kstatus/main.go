// kstatus: computes the kstatus (sigs.k8s.io/cli-utils, what Flux's health checks use) of Kubernetes objects.
//
//	kstatus < objects.json     a JSON object, or a List ({"items": [...]}) as `kubectl get -o json` prints it
//
// Prints one JSON line per object: {"namespace","name","kind","status","message"}.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	var doc map[string]interface{}
	// As client-go decodes: integral numbers become int64 (kstatus reads metadata.generation as one).
	if err := utiljson.Unmarshal(data, &doc); err != nil {
		fail(fmt.Errorf("stdin is not a JSON object: %w", err))
	}
	var objs []map[string]interface{}
	if items, ok := doc["items"].([]interface{}); ok {
		for _, it := range items {
			m, ok := it.(map[string]interface{})
			if !ok {
				fail(fmt.Errorf("an item is not an object"))
			}
			objs = append(objs, m)
		}
	} else {
		objs = append(objs, doc)
	}
	enc := json.NewEncoder(os.Stdout)
	for _, o := range objs {
		u := &unstructured.Unstructured{Object: o}
		res, err := status.Compute(u)
		if err != nil {
			fail(fmt.Errorf("%s/%s: %w", u.GetNamespace(), u.GetName(), err))
		}
		_ = enc.Encode(map[string]string{
			"namespace": u.GetNamespace(), "name": u.GetName(), "kind": u.GetKind(),
			"status": res.Status.String(), "message": res.Message,
		})
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kstatus:", err)
	os.Exit(1)
}
