package server

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/urumi/urumi/internal/provision"
	"github.com/urumi/urumi/internal/store"
)

// TestBackupRoutes: an owner backs up, lists and deletes their store's
// backups; another owner gets 404 for every one of them, as for the store.
func TestBackupRoutes(t *testing.T) {
	h := newHarness(t, unlimited())
	h.createStore("alice", "alice-shop")
	ctx := context.Background()
	job, err := h.db.ActiveJob(ctx, "alice-shop")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.db.ClaimJobByID(ctx, job.ID, "w", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := h.db.FinishJob(ctx, job.ID, "w", store.JobSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	st, err := h.db.GetStore(ctx, "alice-shop")
	if err != nil {
		t.Fatal(err)
	}
	st.Status, st.Options = store.StatusReady, nil
	if err := h.db.UpdateStore(ctx, st); err != nil {
		t.Fatal(err)
	}

	// No repository configured: refused, with what to set.
	want(t, h.do("POST", "/v1/stores/alice-shop/backups", "alice", nil), http.StatusConflict, codeConflict)
	h.svc.Settings.Backup = provision.BackupRepository{URL: "rest:https://backup.example.test:8000/", Secret: "urumi/repo", Endpoints: "192.0.2.10:8000"}

	want(t, h.do("POST", "/v1/stores/alice-shop/backups", "bob", nil), http.StatusNotFound, codeNotFound)
	r := h.do("POST", "/v1/stores/alice-shop/backups", "alice", nil)
	want(t, r, http.StatusAccepted, "")
	var reply backupJobReply
	if err := json.Unmarshal(r.body, &reply); err != nil {
		t.Fatal(err)
	}
	if reply.Backup.Store != "alice-shop" || reply.Backup.Status != store.BackupQueued || reply.JobID == 0 {
		t.Fatalf("created %+v", reply)
	}
	id := reply.Backup.ID

	list := func(who, query string) []store.Backup {
		t.Helper()
		r := h.do("GET", "/v1/backups"+query, who, nil)
		want(t, r, http.StatusOK, "")
		var l []store.Backup
		if err := json.Unmarshal(r.body, &l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	if l := list("alice", "?store=alice-shop"); len(l) != 1 || l[0].ID != id {
		t.Errorf("alice's list: %+v", l)
	}
	if l := list("bob", ""); len(l) != 0 {
		t.Errorf("bob sees %+v", l)
	}
	if l := list("admin", ""); len(l) != 1 {
		t.Errorf("admin sees %+v", l)
	}
	want(t, h.do("GET", "/v1/backups?store=alice-shop", "bob", nil), http.StatusNotFound, codeNotFound)
	want(t, h.do("DELETE", "/v1/backups/"+id, "bob", nil), http.StatusNotFound, codeNotFound)
	want(t, h.do("POST", "/v1/backups/"+id+"/restore", "bob", nil), http.StatusNotFound, codeNotFound)
	want(t, h.do("POST", "/v1/backups/"+id+"/verify", "bob", nil), http.StatusNotFound, codeNotFound)
	want(t, h.do("POST", "/v1/backups/"+id+"/verify", "alice", nil), http.StatusConflict, codeConflict)
	// Still queued: neither deleted nor restored yet.
	want(t, h.do("DELETE", "/v1/backups/"+id, "alice", nil), http.StatusConflict, codeConflict)
	want(t, h.do("POST", "/v1/backups/"+id+"/restore", "alice", nil), http.StatusConflict, codeConflict)

	if _, err := h.db.ClaimJobByID(ctx, reply.JobID, "w", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := h.db.FinishJob(ctx, reply.JobID, "w", store.JobSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	b := reply.Backup
	b.Status = store.BackupSucceeded
	if err := h.db.UpdateBackup(ctx, b); err != nil {
		t.Fatal(err)
	}
	want(t, h.do("POST", "/v1/backups/"+id+"/verify", "bob", nil), http.StatusNotFound, codeNotFound)
	r = h.do("POST", "/v1/backups/"+id+"/verify", "alice", nil)
	want(t, r, http.StatusAccepted, "")
	if err := json.Unmarshal(r.body, &reply); err != nil {
		t.Fatal(err)
	}
	if vjob, err := h.db.GetJob(ctx, reply.JobID); err != nil || string(vjob.Params) != `{"operation":"verify","backupId":"`+id+`"}` {
		t.Errorf("verify queued %+v, %v", vjob, err)
	}
	if err := h.db.CancelJob(ctx, reply.JobID); err != nil {
		t.Fatal(err)
	}
	// Into a new store: another owner's backup is 404 there too; the
	// owner's limit counts the new store.
	want(t, h.do("POST", "/v1/backups/"+id+"/restore", "bob", map[string]string{"to": "bob-copy"}), http.StatusNotFound, codeNotFound)
	if _, err := h.db.SetQuota(ctx, "alice", 1); err != nil {
		t.Fatal(err)
	}
	want(t, h.do("POST", "/v1/backups/"+id+"/restore", "alice", map[string]string{"to": "other-shop"}), http.StatusConflict, codeQuotaExceeded)
	if _, err := h.db.SetQuota(ctx, "alice", 2); err != nil {
		t.Fatal(err)
	}
	want(t, h.do("POST", "/v1/backups/"+id+"/restore", "alice", map[string]string{"to": "Other_Shop"}), http.StatusBadRequest, codeInvalid)
	r = h.do("POST", "/v1/backups/"+id+"/restore", "alice", map[string]string{"to": "other-shop"})
	want(t, r, http.StatusAccepted, "")
	if err := json.Unmarshal(r.body, &reply); err != nil {
		t.Fatal(err)
	}
	if copied, err := h.db.GetStore(ctx, "other-shop"); err != nil || copied.Owner != "alice" || copied.Status != store.StatusQueued {
		t.Errorf("restore into a new store made %+v, %v", copied, err)
	}
	if err := h.db.CancelJob(ctx, reply.JobID); err != nil {
		t.Fatal(err)
	}
	r = h.do("DELETE", "/v1/backups/"+id, "alice", nil)
	want(t, r, http.StatusAccepted, "")
	if err := json.Unmarshal(r.body, &reply); err != nil || reply.Backup.Status != store.BackupDeleting {
		t.Errorf("delete answered %+v, %v", reply, err)
	}
}
