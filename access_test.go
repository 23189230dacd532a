package bluegreen

import "testing"

func TestRoleAllows(t *testing.T) {
	roles := []Role{RoleViewer, RoleDeployer, RoleAdmin, RoleAgent}
	want := map[[2]Role]bool{
		{RoleViewer, RoleViewer}: true, {RoleDeployer, RoleViewer}: true, {RoleDeployer, RoleDeployer}: true,
		{RoleAdmin, RoleViewer}: true, {RoleAdmin, RoleDeployer}: true, {RoleAdmin, RoleAdmin}: true,
		{RoleAgent, RoleAgent}: true,
	}
	for _, r := range roles {
		for _, need := range roles {
			if got := r.Allows(need); got != want[[2]Role{r, need}] {
				t.Errorf("%s.Allows(%s) = %v", r, need, got)
			}
		}
	}
	if Role("root").Allows(RoleViewer) || Role("").Allows(RoleAgent) {
		t.Error("an unknown role allows something")
	}
	if r, err := ParseRole("agent"); err != nil || r != RoleAgent {
		t.Errorf("ParseRole(agent) = %q, %v", r, err)
	}
}

func TestCheckTokenHost(t *testing.T) {
	for _, tc := range []struct {
		role Role
		host string
		ok   bool
	}{
		{RoleAgent, "app-3", true},
		{RoleAgent, "a", true},
		{RoleAgent, "", false},
		{RoleAgent, "App-3", false},
		{RoleAgent, "-app", false},
		{RoleAgent, "app.example", false},
		{RoleViewer, "", true},
		{RoleAdmin, "", true},
		{RoleDeployer, "app-3", false},
	} {
		err := CheckTokenHost(tc.role, tc.host)
		if (err == nil) != tc.ok || (err != nil && ErrorCode(err) != EINVALID) {
			t.Errorf("CheckTokenHost(%s, %q) = %v, want ok=%v", tc.role, tc.host, err, tc.ok)
		}
	}
}
