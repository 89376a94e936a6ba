// luahealth: runs an Argo CD resource health check (health.lua) on the cases of its health_test.yaml, in Argo CD's
// contribution layout (resource_customizations/GROUP/KIND/{health.lua,health_test.yaml,testdata/}), with
// gopher-lua, the Lua interpreter Argo CD embeds. As Argo CD does, the script is the body of a function that sees
// the object as the global `obj` and returns {status, message}.
//
//	luahealth DIR        exit 0 when every case gives the expected status and message; one JSON line per case
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

type healthTest struct {
	Tests []struct {
		HealthStatus struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"healthStatus"`
		InputPath string `json:"inputPath"`
	} `json:"tests"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: luahealth DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	script, err := os.ReadFile(filepath.Join(dir, "health.lua"))
	check(err)
	raw, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
	check(err)
	var ht healthTest
	check(yaml.UnmarshalStrict(raw, &ht))
	if len(ht.Tests) == 0 {
		check(fmt.Errorf("%s: no tests", filepath.Join(dir, "health_test.yaml")))
	}
	failed := 0
	enc := json.NewEncoder(os.Stdout)
	for _, tc := range ht.Tests {
		in, err := os.ReadFile(filepath.Join(dir, tc.InputPath))
		check(err)
		var obj interface{}
		check(yaml.Unmarshal(in, &obj))
		status, message, err := run(string(script), obj)
		check(err)
		// A case without a message (ours only, for objects read from a live cluster) checks the status alone.
		ok := status == tc.HealthStatus.Status && (tc.HealthStatus.Message == "" || message == tc.HealthStatus.Message)
		if !ok {
			failed++
		}
		_ = enc.Encode(map[string]interface{}{
			"inputPath": tc.InputPath, "ok": ok, "status": status, "message": message,
			"wantStatus": tc.HealthStatus.Status, "wantMessage": tc.HealthStatus.Message,
		})
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "luahealth: %d of %d cases failed\n", failed, len(ht.Tests))
		os.Exit(1)
	}
}

func run(script string, obj interface{}) (string, string, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: false})
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	fn, err := L.LoadString(script)
	if err != nil {
		return "", "", err
	}
	L.Push(fn)
	if err := L.PCall(0, 1, nil); err != nil {
		return "", "", err
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("health.lua returned %s, not a table", L.Get(-1).Type())
	}
	return lua.LVAsString(ret.RawGetString("status")), lua.LVAsString(ret.RawGetString("message")), nil
}

func toLua(L *lua.LState, v interface{}) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case []interface{}:
		t := L.NewTable()
		for _, e := range x {
			t.Append(toLua(L, e))
		}
		return t
	case map[string]interface{}:
		t := L.NewTable()
		for k, e := range x {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	default:
		return lua.LString(fmt.Sprint(x))
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "luahealth:", err)
		os.Exit(1)
	}
}
