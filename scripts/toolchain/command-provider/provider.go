package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

const (
	typeLocal  = "command:local:Command"
	typeRemote = "command:remote:Command"
)

// Input property names per resource type, as the Node SDK sends them.
var inputKeys = map[string][]string{
	typeRemote: {"addPreviousOutputInEnv", "connection", "create", "delete", "environment",
		"logging", "stdin", "triggers", "update"},
	typeLocal: {"addPreviousOutputInEnv", "archivePaths", "assetPaths", "create", "delete", "dir",
		"environment", "interpreter", "logging", "stdin", "triggers", "update"},
}

// A minimal package schema, enough for engine features that ask for one.
func schemaJSON() string {
	return `{"name":"command","version":"` + providerVersion + `","resources":{},"functions":{}}`
}

type provider struct {
	pulumirpc.UnimplementedResourceProviderServer

	engine pulumirpc.EngineClient

	mu      sync.Mutex
	running context.Context // cancelled by Cancel: every command runs under it
	cancel  context.CancelFunc
}

func newProvider(engine pulumirpc.EngineClient) *provider {
	ctx, cancel := context.WithCancel(context.Background())
	return &provider{engine: engine, running: ctx, cancel: cancel}
}

func (p *provider) cancelAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cancel()
}

// opContext is the context a command runs under: it ends when the request
// ends, when its custom timeout passes, or when the engine calls Cancel.
func (p *provider) opContext(reqCtx context.Context, timeoutSeconds float64) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(reqCtx)
	stopAfter := context.AfterFunc(p.running, cancel)
	if timeoutSeconds > 0 {
		var tcancel context.CancelFunc
		ctx, tcancel = context.WithTimeout(ctx, time.Duration(timeoutSeconds*float64(time.Second)))
		return ctx, func() { tcancel(); stopAfter(); cancel() }
	}
	return ctx, func() { stopAfter(); cancel() }
}

// --- plumbing -------------------------------------------------------------

func (p *provider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: providerVersion}, nil
}

func (p *provider) GetSchema(_ context.Context, req *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: schemaJSON()}, nil
}

// Configure: this provider has no configuration. It does not accept secrets,
// so the engine sends plain values and re-marks as secret every output whose
// input of the same name was secret (connection, a secret stdin, ...).
func (p *provider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{
		AcceptSecrets:   false,
		SupportsPreview: true,
		AcceptResources: false,
		AcceptOutputs:   false,
	}, nil
}

func (p *provider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	p.cancelAll()
	return &emptypb.Empty{}, nil
}

func unmarshal(s *structpb.Struct, label string) (resource.PropertyMap, error) {
	m, err := plugin.UnmarshalProperties(s, plugin.MarshalOptions{
		Label: label, KeepUnknowns: true, KeepSecrets: true, SkipNulls: true,
	})
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%s: %v", label, err)
	}
	if m == nil {
		m = resource.PropertyMap{}
	}
	return m, nil
}

func marshal(m resource.PropertyMap, label string) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, plugin.MarshalOptions{
		Label: label, KeepUnknowns: true, KeepSecrets: true,
	})
}

func checkType(t string) error {
	if _, ok := inputKeys[t]; !ok {
		return status.Errorf(codes.InvalidArgument, "unknown resource type %q (this provider implements %s and %s)",
			t, typeLocal, typeRemote)
	}
	return nil
}

func typeOf(urn, given string) string {
	if given != "" {
		return given
	}
	return string(resource.URN(urn).Type())
}

// --- Check ----------------------------------------------------------------

func (p *provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	t := typeOf(req.GetUrn(), req.GetType())
	if err := checkType(t); err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews(), "news")
	if err != nil {
		return nil, err
	}
	var failures []*pulumirpc.CheckFailure
	switch t {
	case typeRemote:
		conn, ok := news["connection"]
		switch {
		case !ok || conn.IsNull():
			failures = append(failures, &pulumirpc.CheckFailure{Property: "connection",
				Reason: "missing required property 'connection'"})
		case objectOf(conn) != nil: // not yet known during a preview otherwise
			news["connection"] = withConnectionDefaults(conn)
			h, ok := objectOf(news["connection"])["host"]
			if ok && h.IsSecret() {
				h = h.SecretValue().Element
			}
			if !ok || h.IsNull() || (h.IsString() && h.StringValue() == "") {
				failures = append(failures, &pulumirpc.CheckFailure{Property: "connection.host",
					Reason: "missing required property 'connection.host'"})
			}
		}
	case typeLocal:
		for _, k := range []string{"assetPaths", "archivePaths"} {
			if _, ok := news[resource.PropertyKey(k)]; ok {
				failures = append(failures, &pulumirpc.CheckFailure{Property: k,
					Reason: "'" + k + "' is not supported by this project's command provider build"})
			}
		}
	}
	inputs, err := marshal(news, "inputs")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: inputs, Failures: failures}, nil
}

func objectOf(v resource.PropertyValue) resource.PropertyMap {
	if v.IsSecret() {
		v = v.SecretValue().Element
	}
	if v.IsObject() {
		return v.ObjectValue()
	}
	return nil
}

// withConnectionDefaults fills the same defaults the SDK's
// connectionArgsProvideDefaults does, for programs in other languages.
func withConnectionDefaults(v resource.PropertyValue) resource.PropertyValue {
	secret := v.IsSecret()
	obj := objectOf(v)
	if obj == nil {
		return v
	}
	obj = obj.Copy()
	setDefaults := func(m resource.PropertyMap) {
		def := func(k string, d resource.PropertyValue) {
			if _, ok := m[resource.PropertyKey(k)]; !ok {
				m[resource.PropertyKey(k)] = d
			}
		}
		def("dialErrorLimit", resource.NewNumberProperty(10))
		def("perDialTimeout", resource.NewNumberProperty(15))
		def("port", resource.NewNumberProperty(22))
		def("user", resource.NewStringProperty("root"))
	}
	setDefaults(obj)
	if px, ok := obj["proxy"]; ok {
		if pobj := objectOf(px); pobj != nil {
			pobj = pobj.Copy()
			setDefaults(pobj)
			nv := resource.NewObjectProperty(pobj)
			if px.IsSecret() {
				nv = resource.MakeSecret(nv)
			}
			obj["proxy"] = nv
		}
	}
	out := resource.NewObjectProperty(obj)
	if secret {
		out = resource.MakeSecret(out)
	}
	return out
}

// --- Diff -----------------------------------------------------------------

func onlyInputs(t string, m resource.PropertyMap) resource.PropertyMap {
	out := resource.PropertyMap{}
	for _, k := range inputKeys[t] {
		if v, ok := m[resource.PropertyKey(k)]; ok && !v.IsNull() {
			out[resource.PropertyKey(k)] = v
		}
	}
	return out
}

func (p *provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	t := typeOf(req.GetUrn(), req.GetType())
	if err := checkType(t); err != nil {
		return nil, err
	}
	var olds resource.PropertyMap
	var err error
	if req.GetOldInputs() != nil {
		olds, err = unmarshal(req.GetOldInputs(), "oldInputs")
	} else {
		olds, err = unmarshal(req.GetOlds(), "olds")
	}
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews(), "news")
	if err != nil {
		return nil, err
	}
	olds, news = onlyInputs(t, olds), onlyInputs(t, news)
	ignored := map[string]bool{}
	for _, k := range req.GetIgnoreChanges() {
		ignored[k] = true
	}

	keys := map[resource.PropertyKey]bool{}
	for k := range olds {
		keys[k] = true
	}
	for k := range news {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, string(k))
	}
	sort.Strings(sorted)

	resp := &pulumirpc.DiffResponse{HasDetailedDiff: true, DetailedDiff: map[string]*pulumirpc.PropertyDiff{}}
	for _, k := range sorted {
		if ignored[k] {
			continue
		}
		o, hadOld := olds[resource.PropertyKey(k)]
		n, hasNew := news[resource.PropertyKey(k)]
		var kind pulumirpc.PropertyDiff_Kind
		switch {
		case hadOld && hasNew:
			if !n.ContainsUnknowns() && unwrap(o).DeepEquals(unwrap(n)) {
				continue
			}
			kind = pulumirpc.PropertyDiff_UPDATE
		case hasNew:
			kind = pulumirpc.PropertyDiff_ADD
		default:
			kind = pulumirpc.PropertyDiff_DELETE
		}
		if k == "triggers" {
			kind++ // the *_REPLACE variant follows each kind
			resp.Replaces = append(resp.Replaces, k)
		}
		resp.Diffs = append(resp.Diffs, k)
		resp.DetailedDiff[k] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	if len(resp.Diffs) > 0 {
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
	} else {
		resp.Changes = pulumirpc.DiffResponse_DIFF_NONE
	}
	resp.DeleteBeforeReplace = false
	return resp, nil
}

// unwrap removes secret markers (at any depth) so secretness alone never
// counts as a change.
func unwrap(v resource.PropertyValue) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return unwrap(v.SecretValue().Element)
	case v.IsObject():
		m := resource.PropertyMap{}
		for k, e := range v.ObjectValue() {
			m[k] = unwrap(e)
		}
		return resource.NewObjectProperty(m)
	case v.IsArray():
		a := make([]resource.PropertyValue, len(v.ArrayValue()))
		for i, e := range v.ArrayValue() {
			a[i] = unwrap(e)
		}
		return resource.NewArrayProperty(a)
	}
	return v
}

// --- Create / Update / Delete / Read ---------------------------------------

func newID(name string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	if name == "" {
		name = "command"
	}
	return name + "-" + hex.EncodeToString(b)
}

func computedOutputs(m resource.PropertyMap) resource.PropertyMap {
	out := m.Copy()
	out["stdout"] = resource.MakeComputed(resource.NewStringProperty(""))
	out["stderr"] = resource.MakeComputed(resource.NewStringProperty(""))
	return out
}

func (p *provider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	t := typeOf(req.GetUrn(), req.GetType())
	if err := checkType(t); err != nil {
		return nil, err
	}
	ins, err := unmarshal(req.GetProperties(), "properties")
	if err != nil {
		return nil, err
	}
	ins = onlyInputs(t, ins)
	name := req.GetName()
	if name == "" {
		name = string(resource.URN(req.GetUrn()).Name())
	}
	if req.GetPreview() {
		props, err := marshal(computedOutputs(ins), "outputs")
		if err != nil {
			return nil, err
		}
		return &pulumirpc.CreateResponse{Properties: props}, nil
	}

	spec, err := parseSpec(t, ins)
	if err != nil {
		return nil, err
	}
	outs := ins.Copy()
	outs["stdout"] = resource.NewStringProperty("")
	outs["stderr"] = resource.NewStringProperty("")
	if spec.create != nil {
		opCtx, done := p.opContext(ctx, req.GetTimeout())
		defer done()
		stdout, stderr, err := p.run(opCtx, req.GetUrn(), "create", spec, *spec.create, nil)
		if err != nil {
			return nil, err
		}
		outs["stdout"] = resource.NewStringProperty(stdout)
		outs["stderr"] = resource.NewStringProperty(stderr)
	}
	props, err := marshal(outs, "outputs")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: newID(name), Properties: props}, nil
}

func previousOutputs(olds resource.PropertyMap) *[2]string {
	var prev [2]string
	for i, k := range []resource.PropertyKey{"stdout", "stderr"} {
		if v, ok := olds[k]; ok {
			v = unwrap(v)
			if v.IsString() {
				prev[i] = v.StringValue()
			}
		}
	}
	return &prev
}

func (p *provider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	t := typeOf(req.GetUrn(), req.GetType())
	if err := checkType(t); err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetOlds(), "olds")
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews(), "news")
	if err != nil {
		return nil, err
	}
	news = onlyInputs(t, news)
	if req.GetPreview() {
		props, err := marshal(computedOutputs(news), "outputs")
		if err != nil {
			return nil, err
		}
		return &pulumirpc.UpdateResponse{Properties: props}, nil
	}
	spec, err := parseSpec(t, news)
	if err != nil {
		return nil, err
	}
	outs := news.Copy()
	prev := previousOutputs(olds)
	outs["stdout"] = resource.NewStringProperty(prev[0])
	outs["stderr"] = resource.NewStringProperty(prev[1])

	// The update command, or create again when update is not set.
	cmd, op := spec.update, "update"
	if cmd == nil {
		cmd, op = spec.create, "create"
	}
	if cmd != nil {
		var env *[2]string
		if spec.addPreviousOutputInEnv {
			env = prev
		}
		opCtx, done := p.opContext(ctx, req.GetTimeout())
		defer done()
		stdout, stderr, err := p.run(opCtx, req.GetUrn(), op, spec, *cmd, env)
		if err != nil {
			return nil, err
		}
		outs["stdout"] = resource.NewStringProperty(stdout)
		outs["stderr"] = resource.NewStringProperty(stderr)
	}
	props, err := marshal(outs, "outputs")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

func (p *provider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	t := typeOf(req.GetUrn(), req.GetType())
	if err := checkType(t); err != nil {
		return nil, err
	}
	state, err := unmarshal(req.GetProperties(), "properties")
	if err != nil {
		return nil, err
	}
	spec, err := parseSpec(t, onlyInputs(t, state))
	if err != nil {
		return nil, err
	}
	if spec.delete == nil {
		return &emptypb.Empty{}, nil
	}
	var env *[2]string
	if spec.addPreviousOutputInEnv {
		env = previousOutputs(state)
	}
	opCtx, done := p.opContext(ctx, req.GetTimeout())
	defer done()
	if _, _, err := p.run(opCtx, req.GetUrn(), "delete", spec, *spec.delete, env); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// Read (refresh, import): commands have no remote state to read back, so the
// recorded state is returned unchanged.
func (p *provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if err := checkType(typeOf(req.GetUrn(), req.GetType())); err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

// --- engine log -----------------------------------------------------------

func (p *provider) log(ctx context.Context, urn string, sev pulumirpc.LogSeverity, msg string, ephemeral bool) {
	if p.engine == nil {
		return
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, _ = p.engine.Log(lctx, &pulumirpc.LogRequest{Severity: sev, Message: msg, Urn: urn, Ephemeral: ephemeral})
}

// opError builds the error returned to the engine when a command fails. It
// carries the failure and the command's own output so that the operator sees
// the remote checker's message, but never stdin or environment values.
func opError(t, op string, cause error, stdout, stderr string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s command failed: %v", t, op, cause)
	if s := strings.TrimRight(tail(stdout), "\n"); s != "" {
		fmt.Fprintf(&b, "\nstdout:\n%s", s)
	}
	if s := strings.TrimRight(tail(stderr), "\n"); s != "" {
		fmt.Fprintf(&b, "\nstderr:\n%s", s)
	}
	return status.Error(codes.Unknown, b.String())
}

// tail keeps the last 64 KiB of a command's output for error messages.
func tail(s string) string {
	const max = 64 << 10
	if len(s) <= max {
		return s
	}
	return "[... " + fmt.Sprint(len(s)-max) + " bytes cut ...]" + s[len(s)-max:]
}
