package service_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/authd-dev/authd/accounts"
	"github.com/authd-dev/authd/authdtest/tokens"
	authv1 "github.com/authd-dev/authd/gen/auth/v1"
	"github.com/authd-dev/authd/internal/authdenv"
	"github.com/authd-dev/authd/password"
	"github.com/authd-dev/authd/service"
	"github.com/authd-dev/authd/store"
	"github.com/authd-dev/authd/store/sqlite"
	"github.com/authd-dev/authd/token"
)

// longest is the longest value authd accepts in a request field of this
// name: what MaxRequestSize must fit.
var longest = map[protoreflect.Name]int{
	"username":            accounts.MaxUsername,
	"name":                accounts.MaxUsername,
	"password":            password.MaxLength,
	"old_password":        password.MaxLength,
	"new_password":        password.MaxLength,
	"client_secret":       password.MaxLength,
	"client_id":           accounts.MaxClientID,
	"token":               token.MaxLength,
	"sid":                 64,
	"page_token":          (accounts.MaxUsername*4 + 2) / 3, // base64url of the longest cursor
	"code":                accounts.TOTPDigits,
	"recovery_code":       accounts.MaxRecoveryCode,
	"second_factor_token": accounts.MaxSecondFactorToken,
	"ceremony_token":      accounts.MaxCeremonyToken,
	"credential_json":     accounts.MaxCredentialJSON,
}

// maximal fills every field of m with the longest value authd accepts in
// it (repeated names: token.MaxNames of token.MaxNameLength bytes).
func maximal(t *testing.T, m protoreflect.Message) {
	t.Helper()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		switch {
		case f.IsList() && f.Kind() == protoreflect.StringKind:
			list := m.Mutable(f).List()
			for range token.MaxNames {
				list.Append(protoreflect.ValueOfString(strings.Repeat("r", token.MaxNameLength)))
			}
		case f.Kind() == protoreflect.StringKind:
			n, ok := longest[f.Name()]
			if !ok {
				t.Errorf("%s: how long may it be? Add it to longest, and check MaxRequestSize", f.FullName())
			}
			m.Set(f, protoreflect.ValueOfString(strings.Repeat("x", n)))
		case f.Kind() == protoreflect.Int64Kind:
			m.Set(f, protoreflect.ValueOfInt64(-1)) // the longest varint
		case f.Kind() == protoreflect.Int32Kind:
			m.Set(f, protoreflect.ValueOfInt32(-1))
		case f.Kind() == protoreflect.EnumKind:
			m.Set(f, protoreflect.ValueOfEnum(-1))
		case f.Kind() == protoreflect.BoolKind:
			m.Set(f, protoreflect.ValueOfBool(true))
		default:
			t.Errorf("%s: a %s field; size it here", f.FullName(), f.Kind())
		}
	}
}

// Every request of AuthService and AdminService, with every field as long
// as authd accepts, fits MaxRequestSize: the receive limit refuses nothing
// legitimate. A method added later fails here until its fields are sized.
func TestMaxRequestSize_FitsTheLargestLegitimateRequests(t *testing.T) {
	largest, largestName := 0, ""
	for _, svc := range []protoreflect.FullName{"auth.v1.AuthService", "auth.v1.AdminService"} {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(svc)
		if err != nil {
			t.Fatal(err)
		}
		methods := d.(protoreflect.ServiceDescriptor).Methods()
		for i := range methods.Len() {
			in := methods.Get(i).Input()
			mt, err := protoregistry.GlobalTypes.FindMessageByName(in.FullName())
			if err != nil {
				t.Fatal(err)
			}
			m := mt.New()
			maximal(t, m)
			// 5 bytes of gRPC framing besides the message.
			if size := proto.Size(m.Interface()) + 5; size > largest {
				largest, largestName = size, string(in.FullName())
			}
		}
	}
	if largest > service.MaxRequestSize {
		t.Fatalf("%s can be %d bytes, over MaxRequestSize (%d)", largestName, largest, service.MaxRequestSize)
	}
	if largest < service.MaxRequestSize/4 {
		t.Errorf("the largest request is %d bytes (%s): MaxRequestSize %d is more than 4 times that", largest, largestName, service.MaxRequestSize)
	}
	t.Logf("largest request: %s, %d bytes; MaxRequestSize %d", largestName, largest, service.MaxRequestSize)
}

// A request over MaxRequestSize is refused by its length prefix, before it
// is read or any handler runs: RESOURCE_EXHAUSTED saying so. The longest
// legitimate one, a Verify of a token of token.MaxLength, is read and
// answered.
func TestMaxRequestSize_RefusesLongerRequestsUnread(t *testing.T) {
	e := newEnv(t)
	_, err := e.Client.Verify(bg, &authv1.VerifyRequest{Token: strings.Repeat("a", token.MaxLength)})
	tokens.WantRefusal(t, err, codes.Unauthenticated, "TOKEN_INVALID")
	for _, size := range []int{service.MaxRequestSize, 4 << 20} {
		_, err = e.Client.Login(bg, &authv1.LoginRequest{Username: "alice", Password: strings.Repeat("p", size)})
		if status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), "larger than max") {
			t.Errorf("a %d-byte Login: %v; want RESOURCE_EXHAUSTED, larger than max", size, err)
		}
	}
}

// countingStore counts the session reads of a store.
type countingStore struct {
	store.Store
	reads atomic.Int64
}

func (c *countingStore) Session(ctx context.Context, sid string) (store.Session, error) {
	c.reads.Add(1)
	return c.Store.Session(ctx, sid)
}

// CheckSession, public and uncached before, is bounded per caller address:
// a token bucket of CheckSessionBurst calls refilled at CheckSessionRate a
// second (the fake clock's); past it RESOURCE_EXHAUSTED with a RetryInfo.
// An answer of "not live" is final, and asked again it costs no store
// read.
func TestCheckSession_BoundedPerAddress(t *testing.T) {
	var counting *countingStore
	e := newEnv(t, func(o *authdenv.Options) {
		o.Store = func(db *sqlite.DB) store.Store { counting = &countingStore{Store: db}; return counting }
	})
	check := func(sid string) error {
		_, err := e.Client.CheckSession(bg, &authv1.CheckSessionRequest{Sid: sid})
		return err
	}
	if err := check("dW5rbm93bg"); err != nil {
		t.Fatal(err)
	}
	before := counting.reads.Load()
	for range 10 {
		if err := check("dW5rbm93bg"); err != nil {
			t.Fatal(err)
		}
	}
	if n := counting.reads.Load() - before; n != 0 {
		t.Errorf("an unknown session asked again 10 times: %d store reads, want 0", n)
	}
	for i := 11; i < service.CheckSessionBurst; i++ {
		if err := check(fmt.Sprintf("c2lk%d", i)); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	err := check("b25lLW1vcmU")
	tokens.WantRefusal(t, err, codes.ResourceExhausted, "")
	if d := retryDelay(t, err); d <= 0 || d > time.Second {
		t.Errorf("RetryInfo %s, want (0, 1s]", d)
	}
	e.Clock.Advance(time.Second)
	for i := range service.CheckSessionRate {
		if err := check(fmt.Sprintf("bW9yZQ%d", i)); err != nil {
			t.Fatalf("after a second, call %d: %v", i, err)
		}
	}
	tokens.WantRefusal(t, check("b25lLW1vcmU"), codes.ResourceExhausted, "")
	// Refusals are counted, and logged once a minute, not one by one.
	if n := limitedCalls(t, e, "CheckSession"); n != 2 {
		t.Errorf("authd_public_calls_limited_total{method=CheckSession} = %v, want 2", n)
	}
	if n := strings.Count(e.Logs.String(), "public calls over their rate refused"); n != 1 {
		t.Errorf("%d log lines about refusals, want 1:\n%s", n, e.Logs)
	}
	// Other methods, and Login, are not counted.
	if _, err := e.Client.GetJWKS(bg, &authv1.GetJWKSRequest{}); err != nil {
		t.Fatal(err)
	}
	e.Login(t, "alice", "correct horse")
}

// limitedCalls reads authd_public_calls_limited_total of method.
func limitedCalls(t *testing.T, e *authdenv.Env, method string) float64 {
	t.Helper()
	families, err := e.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "authd_public_calls_limited_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" && l.GetValue() == method {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// ListRevocations is bounded the same way, with a bucket of its own.
func TestListRevocations_BoundedPerAddress(t *testing.T) {
	e := newEnv(t)
	for i := range service.ListRevocationsBurst {
		if _, err := e.Client.ListRevocations(bg, &authv1.ListRevocationsRequest{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	_, err := e.Client.ListRevocations(bg, &authv1.ListRevocationsRequest{})
	tokens.WantRefusal(t, err, codes.ResourceExhausted, "")
	if _, err := e.Client.CheckSession(bg, &authv1.CheckSessionRequest{Sid: "c2lk"}); err != nil {
		t.Fatalf("CheckSession, another bucket: %v", err)
	}
	e.Clock.Advance(time.Second)
	if _, err := e.Client.ListRevocations(bg, &authv1.ListRevocationsRequest{}); err != nil {
		t.Fatalf("after a second: %v", err)
	}
}

// The health Watch stream, public and as long as the caller likes, is
// bounded per peer address (MaxHealthWatchesPerAddress): past it
// RESOURCE_EXHAUSTED, and a closed stream frees its place. Check always
// answers.
func TestHealthWatch_BoundedPerAddress(t *testing.T) {
	e := newEnv(t)
	health := healthpb.NewHealthClient(e.Conn)
	var cancels []context.CancelFunc
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	watch := func() error {
		ctx, cancel := context.WithCancel(bg)
		cancels = append(cancels, cancel)
		stream, err := health.Watch(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return err
		}
		_, err = stream.Recv()
		return err
	}
	for i := range service.MaxHealthWatchesPerAddress {
		if err := watch(); err != nil {
			t.Fatalf("watch %d: %v", i, err)
		}
	}
	tokens.WantRefusal(t, watch(), codes.ResourceExhausted, "")
	if _, err := health.Check(bg, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("Check: %v", err)
	}
	cancels[0]()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := watch()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a watch after one closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
