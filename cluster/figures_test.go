package cluster

import (
	"reflect"
	"testing"
	"time"

	"github.com/bluegreen/bluegreen"
	"github.com/bluegreen/bluegreen/internal/testenv"
)

// figs returns figures with requests, errors and a histogram over the
// bounds 0.1s and 1s.
func figs(req, errs int64, counts ...int64) Figures {
	return Figures{Requests: req, Errors5xx: errs, Latency: Histogram{
		Bounds: []float64{0.1, 1}, Counts: counts, Count: counts[len(counts)-1], Sum: float64(req) / 10}}
}

// TestSumFigures adds three instances' figures per color; an instance that
// crashed drops out of the sum once its lease expired.
func TestSumFigures(t *testing.T) {
	nodes := joinN(t, oneMember(t), 3)
	published := []map[bluegreen.Color]Figures{
		{bluegreen.Blue: figs(10, 1, 8, 10, 10), bluegreen.Green: figs(2, 0, 2, 2, 2)},
		{bluegreen.Blue: figs(20, 0, 10, 19, 20)},
		{bluegreen.Blue: figs(30, 6, 0, 25, 30)},
	}
	for i, n := range nodes {
		if err := n.PublishFigures(t.Context(), published[i]); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := nodes[0].SumFigures(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := map[bluegreen.Color]Figures{bluegreen.Blue: figs(60, 7, 18, 54, 60), bluegreen.Green: figs(2, 0, 2, 2, 2)}
	if !reflect.DeepEqual(sum, want) {
		t.Fatalf("SumFigures = %+v, want %+v", sum, want)
	}

	nodes[2].crash()
	testenv.WaitFor(t, testTTL+2*time.Second, "the crashed instance's figures to leave the sum", func() bool {
		sum, err := nodes[0].SumFigures(t.Context())
		return err == nil && sum[bluegreen.Blue].Requests == 30
	})

	bad := Figures{Latency: Histogram{Bounds: []float64{0.5}, Counts: []int64{1, 1}, Count: 1}}
	if err := nodes[1].PublishFigures(t.Context(), map[bluegreen.Color]Figures{bluegreen.Blue: bad}); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[0].SumFigures(t.Context()); bluegreen.ErrorCode(err) != bluegreen.EINVALID {
		t.Errorf("SumFigures over different buckets: %v, want EINVALID", err)
	}
}

// TestInstanceFigures lists each live instance's last figures by ID: one
// that has not published is absent, a record without a live member (left
// by a writer outside the cluster) is ignored, and a closed instance
// drops out at once.
func TestInstanceFigures(t *testing.T) {
	eps := oneMember(t)
	nodes := joinN(t, eps, 3)
	a := map[bluegreen.Color]Figures{bluegreen.Blue: figs(10, 1, 8, 10, 10)}
	b := map[bluegreen.Color]Figures{bluegreen.Green: figs(2, 0, 2, 2, 2)}
	if err := nodes[0].PublishFigures(t.Context(), map[bluegreen.Color]Figures{bluegreen.Blue: figs(1, 0, 1, 1, 1)}); err != nil {
		t.Fatal(err)
	}
	for i, f := range []map[bluegreen.Color]Figures{a, b} {
		if err := nodes[i].PublishFigures(t.Context(), f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := newClient(t, eps).Put(t.Context(), "/t/cluster/figures/ghost", `{"blue":{"requests":99}}`); err != nil {
		t.Fatal(err)
	}
	got, err := nodes[2].InstanceFigures(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[bluegreen.Color]Figures{"a": a, "b": b}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("InstanceFigures = %+v, want %+v", got, want)
	}

	closeSoon(nodes[1].Instance)
	got, err = nodes[2].InstanceFigures(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]map[bluegreen.Color]Figures{"a": a}; !reflect.DeepEqual(got, want) {
		t.Errorf("InstanceFigures after b closed = %+v, want %+v", got, want)
	}
}

// TestFiguresAdd: the empty Figures takes the first histogram's buckets,
// and a failed Add changes nothing.
func TestFiguresAdd(t *testing.T) {
	var f Figures
	if err := f.Add(figs(1, 0, 1, 1, 1)); err != nil || !reflect.DeepEqual(f, figs(1, 0, 1, 1, 1)) {
		t.Fatalf("Add to empty: %+v, %v", f, err)
	}
	if err := f.Add(Figures{Requests: 1}); err != nil || f.Requests != 2 {
		t.Fatalf("Add without a histogram: %+v, %v", f, err)
	}
	before := f
	if err := f.Add(Figures{Requests: 5, Latency: Histogram{Bounds: []float64{2}, Counts: []int64{1, 1}}}); err == nil || !reflect.DeepEqual(f, before) {
		t.Errorf("Add over other buckets: %+v, %v; want an error and no change", f, err)
	}
}
