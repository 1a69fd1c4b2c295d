import ADPostgres
import ADTestSupport
import Foundation
import Testing
import Yams

@testable import ADHTTP

/// api/openapi.yaml against the code, without a server: the same operations as `APIRoutes.operations`, a bearer
/// requirement and a 401 on every one but /healthz, every error a problem document whose schema has exactly the
/// fields `Problem` writes, and every path parameter declared. (SchemathesisTests checks the rest against a running
/// worker: that the document is valid OpenAPI 3.1 and that the answers match it.)
@Suite struct APIContractTests {
    static let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    static func document() throws -> Node {
        let url = Repository.root().appendingPathComponent("api/openapi.yaml")
        let text = try String(contentsOf: url, encoding: .utf8)
        return try #require(try Yams.compose(yaml: text), "api/openapi.yaml is empty")
    }

    /// Each operation: "METHOD /path" and its node.
    static func operations(_ doc: Node) throws -> [(name: String, node: Node)] {
        let paths = try #require(doc["paths"]?.mapping, "the document has no paths")
        var out: [(String, Node)] = []
        for (path, item) in paths {
            for (method, operation) in try #require(item.mapping) {
                let m = try #require(method.string)
                guard methods.contains(m) else { continue }
                out.append(("\(m.uppercased()) \(try #require(path.string))", operation))
            }
        }
        return out
    }

    /// `node` with a `$ref` to this document followed (one level is all the document uses).
    static func resolve(_ node: Node, in doc: Node) throws -> Node {
        guard let ref = node["$ref"]?.string else { return node }
        #expect(ref.hasPrefix("#/"), "only local references: \(ref)")
        var target: Node? = doc
        for part in ref.dropFirst(2).split(separator: "/") { target = target?[String(part)] }
        return try #require(target, "\(ref) points at nothing")
    }

    @Test func theDocumentNamesExactlyTheRoutesOperations() throws {
        let doc = try Self.document()
        #expect(doc["openapi"]?.string?.hasPrefix("3.1.") == true)
        let documented = try Self.operations(doc).map(\.name)
        #expect(Set(documented).count == documented.count)
        #expect(Set(APIRoutes.operations).count == APIRoutes.operations.count)
        let missing = Set(APIRoutes.operations).subtracting(documented).sorted()
        let extra = Set(documented).subtracting(APIRoutes.operations).sorted()
        #expect(missing.isEmpty, "served but not in api/openapi.yaml: \(missing)")
        #expect(extra.isEmpty, "in api/openapi.yaml but not served: \(extra)")
    }

    @Test func everyOperationButHealthNeedsABearerTokenAndSaysSo() throws {
        let doc = try Self.document()
        #expect(doc["components"]?["securitySchemes"]?["bearer"]?["scheme"]?.string == "bearer")
        #expect(doc["security"]?.array().first?["bearer"] != nil, "bearer is the default requirement")
        for (name, operation) in try Self.operations(doc) {
            let open = operation["security"]?.array().isEmpty == true
            #expect(open == ["GET /healthz", "GET /readyz"].contains(name), "\(name): security")
            #expect(open || operation["responses"]?[key: "401"] != nil, "\(name) documents no 401")
            #expect(open || operation["responses"]?[key: "503"] != nil, "\(name) documents no 503")
            #expect(operation["operationId"]?.string != nil, "\(name) has no operationId")
        }
    }

    @Test func everyErrorIsAProblemDocument() throws {
        let doc = try Self.document()
        for (name, operation) in try Self.operations(doc) {
            let responses = try #require(operation["responses"]?.mapping, "\(name) has no responses")
            #expect(
                !responses.keys.contains { $0.string == "default" },
                "\(name): a default response would let any status pass")
            for (status, response) in responses {
                let code = try #require(status.string.flatMap { Int($0) }, "\(name): status \(status)")
                let r = try Self.resolve(response, in: doc)
                #expect(r["description"]?.string?.isEmpty == false, "\(name) \(code): no description")
                guard code >= 400 else { continue }
                let content = try #require(r["content"]?.mapping, "\(name) \(code): no content")
                #expect(content.keys.compactMap(\.string) == ["application/problem+json"], "\(name) \(code)")
                #expect(
                    content["application/problem+json"]?["schema"]?["$ref"]?.string
                        == "#/components/schemas/Problem", "\(name) \(code)")
            }
        }
    }

    /// The Problem schema lists exactly the fields `Problem.body` can write, requires those it always writes, and
    /// the 401 and 503 responses document the headers the code sends with them.
    @Test func theProblemSchemaIsWhatProblemWrites() throws {
        let doc = try Self.document()
        let schema = try #require(doc["components"]?["schemas"]?["Problem"])
        let documented = Array(try #require(schema["properties"]?.mapping).keys.compactMap(\.string))
        func members(_ p: Problem) -> [String] {
            guard case .object(let pairs) = p.body else { return [] }
            return pairs.map(\.0)
        }
        var full = Problem(.badRequest, "detail", hint: "hint")
        full.sqlState = "22023"
        full.index = 0
        full.line = 1
        #expect(documented == members(full), "the same members, in the same order")
        let required = schema["required"]?.array(of: String.self) ?? []
        #expect(required == members(Problem(.notFound, "x")))
        #expect(schema["additionalProperties"]?.bool == false)

        let unauthorized = Problem(APIFailure(.unauthenticated, "x"))
        #expect(unauthorized.status.code == 401 && unauthorized.headers[.wwwAuthenticate] != nil)
        #expect(doc["components"]?["responses"]?["Unauthorized"]?["headers"]?["WWW-Authenticate"] != nil)
        let unavailable = Problem(APIFailure(.unavailable, "x"))
        #expect(unavailable.status.code == 503 && unavailable.headers[.retryAfter] != nil)
        #expect(doc["components"]?["responses"]?["Unavailable"]?["headers"]?["Retry-After"] != nil)
    }

    @Test func everyPathParameterIsDeclared() throws {
        let doc = try Self.document()
        for (name, operation) in try Self.operations(doc) {
            let path = String(name.split(separator: " ")[1])
            let templated = Set(
                path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) })
            var declared: Set<String> = []
            for p in operation["parameters"]?.array() ?? [] {
                let parameter = try Self.resolve(p, in: doc)
                if parameter["in"]?.string == "path" {
                    #expect(parameter["required"]?.bool == true, "\(name): path parameters are required")
                    declared.insert(try #require(parameter["name"]?.string))
                }
            }
            #expect(declared == templated, "\(name): path parameters \(declared) for \(templated)")
        }
    }

    /// The bounds the document states are the code's defaults (a change to one must change the other).
    @Test func theDocumentedBoundsAreTheCodes() throws {
        let doc = try Self.document()
        let settings = APISettings()
        let series = try #require(
            try Self.operations(doc).first { $0.name == "GET /v1/sources/{source}/series" }?.node)
        let limit = series["parameters"]?.array().first { $0["name"]?.string == "limit" }
        #expect(limit?["schema"]?["maximum"]?.int == settings.maxSeriesPoints)
        let train = try #require(try Self.operations(doc).first { $0.name == "POST /v1/models/train" }?.node)
        let wait = train["parameters"]?.array().first { $0["name"]?.string == "wait" }
        #expect(wait?["schema"]?["maximum"]?.float == settings.maxTrainWait)
        let points = try #require(
            try Self.operations(doc).first { $0.name == "POST /v1/sources/{source}/points" }?.node)
        let ndjson = points["requestBody"]?["content"]?["application/x-ndjson"]?["schema"]
        #expect(ndjson?["maxItems"]?.int == settings.maxPoints)
        let content = try #require(points["requestBody"]?["content"]?.mapping)
        for type in content.keys.compactMap(\.string) {
            #expect(PointBodies.format(contentType: type) != nil, "\(type) is documented but not read")
        }
    }
}

extension Node {
    /// The value of `key` in a mapping, whatever the key's style: `node["401"]` misses a quoted "401" (its tag
    /// differs from a plain scalar's).
    subscript(key key: String) -> Node? { mapping?.first { $0.key.string == key }?.value }
}
