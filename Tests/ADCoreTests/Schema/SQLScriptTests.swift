import Testing

@testable import ADCore

@Suite struct SQLScriptSplitsStatements {
    @Test func splitsOnTopLevelSemicolons() throws {
        #expect(try SQLScript.statements(in: "SELECT 1; SELECT 2;\nSELECT 3") == ["SELECT 1", "SELECT 2", "SELECT 3"])
    }

    @Test(arguments: [
        ("SELECT 'a;b'; SELECT 2", ["SELECT 'a;b'", "SELECT 2"]),
        ("SELECT 'it''s;'; SELECT 2", ["SELECT 'it''s;'", "SELECT 2"]),
        (#"SELECT E'\';'; SELECT 2"#, [#"SELECT E'\';'"#, "SELECT 2"]),
        (#"SELECT "we;ird" FROM t; SELECT 2"#, [#"SELECT "we;ird" FROM t"#, "SELECT 2"]),
        (
            "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql; SELECT 2",
            ["CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql", "SELECT 2"]
        ),
        ("DO $do$ BEGIN PERFORM $x$;$x$; END $do$; SELECT 2", ["DO $do$ BEGIN PERFORM $x$;$x$; END $do$", "SELECT 2"]),
        ("SELECT 1 -- a; comment\n; SELECT 2", ["SELECT 1 -- a; comment", "SELECT 2"]),
        ("SELECT /* a; /* nested; */ b; */ 1; SELECT 2", ["SELECT /* a; /* nested; */ b; */ 1", "SELECT 2"]),
        ("SELECT $1::int; SELECT 2", ["SELECT $1::int", "SELECT 2"]),
        ("SELECT a$b FROM t; SELECT 2", ["SELECT a$b FROM t", "SELECT 2"]),
    ])
    func keepsSemicolonsInsideQuotesAndComments(script: String, expected: [String]) throws {
        #expect(try SQLScript.statements(in: script) == expected)
    }

    @Test func dropsEmptyAndCommentOnlyStatements() throws {
        #expect(try SQLScript.statements(in: ";;\n-- only a comment\n;\nSELECT 1;\n  \n") == ["SELECT 1"])
    }

    @Test(arguments: [
        ("SELECT 'open", "unterminated quoted text", 1),
        ("SELECT 1;\nSELECT $$ open", "unterminated dollar-quoted text", 2),
        ("SELECT /* open", "unterminated block comment", 1),
        ("SELECT 1;\n\\echo hi", "psql meta-command is not SQL", 2),
    ])
    func rejectsBrokenScripts(script: String, message: String, line: Int) {
        #expect(throws: SQLScript.SplitError(message: message, line: line)) { try SQLScript.statements(in: script) }
    }
}
