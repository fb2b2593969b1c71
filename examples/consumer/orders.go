package main

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	ordersv1 "example.com/consumer/gen/orders/v1"

	"github.com/authd-dev/authd/guard"
	"github.com/authd-dev/authd/interceptors"
	"github.com/authd-dev/authd/protect"
)

// newServer serves the order service behind g's interceptors, with the
// limits that refuse a caller without a token before its request is read,
// and refuses to build a server in which a method declares no requirement.
func newServer(g *guard.Guard) (*grpc.Server, error) {
	authn := interceptors.New(g)
	srv := grpc.NewServer(append(protect.ServerOptions(g, protect.Limits{}),
		grpc.ChainUnaryInterceptor(authn.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(authn.StreamServerInterceptor()),
	)...)
	ordersv1.RegisterOrderServiceServer(srv, orders{})
	healthpb.RegisterHealthServer(srv, health.NewServer()) // public: protect.New says so
	if err := authn.CheckServer(srv); err != nil {
		return nil, err // names every method without a requirement
	}
	return srv, nil
}

// orders never checks tokens itself: by the time a handler runs, the
// interceptors have enforced what orders.proto declares for its method.
type orders struct {
	ordersv1.UnimplementedOrderServiceServer
}

func (orders) GetOrder(ctx context.Context, req *ordersv1.GetOrderRequest) (*ordersv1.GetOrderResponse, error) {
	claims, _ := guard.ClaimsFromContext(ctx) // always there: the method needs a token
	return &ordersv1.GetOrderResponse{Id: req.GetId(), Viewer: claims.Subject}, nil
}

func (orders) ListOrders(context.Context, *ordersv1.ListOrdersRequest) (*ordersv1.ListOrdersResponse, error) {
	return &ordersv1.ListOrdersResponse{Ids: []string{"o-1", "o-2"}}, nil
}

func (orders) CancelOrder(ctx context.Context, req *ordersv1.CancelOrderRequest) (*ordersv1.CancelOrderResponse, error) {
	claims, _ := guard.ClaimsFromContext(ctx)
	return &ordersv1.CancelOrderResponse{Id: req.GetId(), CancelledBy: claims.Subject}, nil
}
