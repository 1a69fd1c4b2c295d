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
            "sslmode \"sometimes\" is not one of disable, allow, prefer, require, verify-ca, verify-full"
        ),
        (
            "postgres://u@h/d?colour=blue",
            "unknown parameter \"colour\" (known: \(DatabaseURL.parameters.joined(separator: ", ")))"
        ),
        ("postgres://h/d", "no user name (postgres://USER@host/db)"),
        ("postgres://u@h/d%zz", "bad percent-encoding in \"d%zz\" (the database name)"),
    ])
    func rejectsWithAClearMessage(text: String, message: String) {
        #expect(throws: DatabaseURL.ParseError(message: message)) { try DatabaseURL(text) }
    }
}

@Suite struct DatabaseURLConnectionOptions {
    @Test func sslmodeDefaultsToVerifyFullExceptOnThisMachine() throws {
        #expect(try DatabaseURL("postgres://u@db.example/d").tls == .verifyFull)
        #expect(try DatabaseURL("postgres://u@10.1.2.3/d").tls == .verifyFull)
        #expect(try DatabaseURL("postgres://u@localhost/d").tls == .prefer)
        #expect(try DatabaseURL("postgres://u@127.0.0.1/d").tls == .prefer)
        #expect(try DatabaseURL("postgres://u@[::1]/d").tls == .prefer)
        #expect(try DatabaseURL("postgres://u@/d?host=/tmp").tls == .prefer)
        #expect(try DatabaseURL("postgres://u@db.example/d?sslmode=prefer").tls == .prefer)
    }

    @Test(arguments: DatabaseURL.TLSMode.allCases)
    func readsEverySslmode(mode: DatabaseURL.TLSMode) throws {
        #expect(try DatabaseURL("postgres://u@h/d?sslmode=\(mode.rawValue)").tls == mode)
    }

    @Test func readsCertificatesKeepalivesAndTimeouts() throws {
        let u = try DatabaseURL(
            "postgres://u@h/d?sslmode=verify-ca&sslrootcert=/etc/ca.pem&sslcert=/c.pem&sslkey=/k.pem"
                + "&keepalives_idle=5&keepalives_interval=2&keepalives_count=4&tcp_user_timeout=9000"
                + "&connect_timeout=3&options=-c%20work_mem%3D64MB")
        #expect(u.sslRootCert == "/etc/ca.pem")
        #expect(u.sslCert == "/c.pem" && u.sslKey == "/k.pem")
        #expect(u.keepalives && u.keepalivesIdle == 5 && u.keepalivesInterval == 2 && u.keepalivesCount == 4)
        #expect(u.tcpUserTimeout == 9000 && u.connectTimeout == 3)
        #expect(u.options == "-c work_mem=64MB")
        #expect(try DatabaseURL(u.text) == u)
        #expect(try DatabaseURL("postgres://u@h/d?keepalives=0").keepalives == false)
    }

    @Test func defaultsKeepalivesAndTimeouts() throws {
        let u = try DatabaseURL("postgres://u@h/d")
        #expect(u.keepalives && u.keepalivesIdle == 30 && u.keepalivesInterval == 10 && u.keepalivesCount == 3)
        #expect(u.tcpUserTimeout == 60_000 && u.connectTimeout == 10)
    }

    @Test(arguments: [
        (
            "postgres://u@h/d?sslcert=/c.pem",
            "sslcert and sslkey go together: give both (a client certificate and its key)"
        ),
        (
            "postgres://u@h/d?sslmode=disable&sslrootcert=/ca.pem",
            "sslrootcert, sslcert and sslkey need TLS, but sslmode is disable"
        ),
        ("postgres://u@h/d?keepalives_idle=0", "keepalives_idle \"0\" is not a whole number from 1 to 86400"),
        ("postgres://u@h/d?connect_timeout=soon", "connect_timeout \"soon\" is not a whole number from 1 to 3600"),
    ])
    func rejectsBadOptions(text: String, message: String) {
        #expect(throws: DatabaseURL.ParseError(message: message)) { try DatabaseURL(text) }
    }
}

/// A malformed URL's error never shows the password, whatever is malformed (issue 18: it used to print it).
@Suite struct DatabaseURLErrorsNeverShowThePassword {
    @Test(arguments: [
        "postgres://ad:Hunter2Secret",  // no @host: the password reads as a port
        "postgres://ad:Hunter2Secret@",  // no host at all is fine (localhost); then bad port below
        "postgres://ad:Hunter2Secret@db:54x2/metrics",
        "postgres://ad:Hunter2%zzSecret@db/metrics",  // bad percent-encoding inside the password
        "postgres://ad:Hunter2/Secret@db/metrics",  // an unencoded slash inside it
        "postgres://ad:Hunter2?Secret@db/metrics",  // an unencoded question mark inside it
        "postgres://ad:Hunter2:Secret@db:bad/metrics",
        "postgres://ad@db/metrics?password=Hunter2%zzSecret",
        "postgres://ad@db/metrics?password=Hunter2Secret&sslmode=Hunter2Secret",
        "postgres://ad@db/metrics?password=Hunter2Secret&Hunter2Secret=1",
        "postgres://ad:Hunter2Secret@[::1/metrics",
        "mysql://ad:Hunter2Secret@db/metrics",
    ])
    func malformed(text: String) {
        do {
            let url = try DatabaseURL(text)
            #expect(!url.description.contains("Hunter2"), "\(url.description)")
        } catch {
            #expect(!error.description.contains("Hunter2"), "\(error.description)")
            #expect(!error.description.contains("Secret"), "\(error.description)")
        }
    }
}
