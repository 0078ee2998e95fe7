from hotline.web import create_app


def test_healthz_reports_a_reachable_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_reports_an_unreachable_database_with_503(tmp_path):
    # A SQLite file inside a directory that does not exist cannot be opened.
    app = create_app({"database_url": f"sqlite:///{tmp_path}/missing/dir/x.db", "env": "test"})
    response = app.test_client().get("/healthz")
    app.extensions["hotline"].engine.dispose()
    assert response.status_code == 503
    assert response.get_json() == {"status": "degraded", "database": "unreachable"}
