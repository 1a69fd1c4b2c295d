import Testing

@testable import ADCore

@Suite struct DatabaseURLParses {
    @Test func readsTheUsualParts() throws {
        let u = try DatabaseURL("postgres://ad:s%40cret@db.example:6543/metrics?sslmode=require&application_name=w1")
        #expect(u.host == "db.example")
        #expect(u.port == 6543)
        #expect(u.username == "ad")
        #expect(u.password == "s@cret")
        #expect(u.database == "metrics")
        #expect(u.tls == .require)
        #expect(u.applicationName == "w1")
        #expect(u.unixSocketPath == nil)
    }

    @Test func defaultsLikeLibpq() throws {
        let u = try DatabaseURL("postgresql://postgres@localhost")
        #expect(u.port == 5432)
        #expect(u.database == "postgres")
        #expect(u.tls == .prefer)
    }

    @Test func readsAUnixSocketDirectory() throws {
        let u = try DatabaseURL("postgres://postgres@/ad?host=/work/.local/pg&port=55432")
        #expect(u.unixSocketPath == "/work/.local/pg/.s.PGSQL.55432")
        let v = try DatabaseURL("postgres://postgres@%2Ftmp%2Fpg:5433/ad")
        #expect(v.unixSocketPath == "/tmp/pg/.s.PGSQL.5433")
    }

    @Test func readsIPv6() throws {
        let u = try DatabaseURL("postgres://postgres@[::1]:5444/ad?sslmode=disable")
        #expect(u.host == "::1")
        #expect(u.port == 5444)
    }

    @Test(arguments: [
        "postgres://ad:p%40ss%3Aw@db.example:6543/metrics?sslmode=require&application_name=w%201",
        "postgres://postgres@/ad?host=/tmp/a%20b&port=55432&sslmode=disable",
        "postgres://postgres@[::1]:5444/ad?sslmode=verify-full",
    ])
    func textRoundTrips(original: String) throws {
        let u = try DatabaseURL(original)
        #expect(try DatabaseURL(u.text) == u)
    }

    @Test func neverPrintsThePassword() throws {
        let u = try DatabaseURL("postgres://ad:hunter2@h:1/d")
        #expect(!u.description.contains("hunter2"))
        #expect(u.description == "postgres://ad:***@h:1/d")
    }

    @Test(arguments: [
        ("mysql://u@h/d", "must start with postgres:// or postgresql://"),
        ("postgres://u@h:99999/d", "port \"99999\" is not a number from 1 to 65535"),
        (
            "postgres://u@h/d?sslmode=sometimes",
            "sslmode \"sometimes\" is not one of disable, prefer, require, verify-ca, verify-full"
        ),
        ("postgres://u@h/d?colour=blue", "unknown parameter \"colour\""),
        ("postgres://h/d", "no user name (postgres://USER@host/db)"),
        ("postgres://u@h/d%zz", "bad percent-encoding in \"d%zz\""),
    ])
    func rejectsWithAClearMessage(text: String, message: String) {
        #expect(throws: DatabaseURL.ParseError(message: message)) { try DatabaseURL(text) }
    }
}
