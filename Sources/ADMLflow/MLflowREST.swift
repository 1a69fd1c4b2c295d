import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

// MLflow's REST API 2.0 as JSON (https://mlflow.org/docs/latest/rest-api.html; checked against the handlers of the
// pinned server, mlflow 3.17.2). Written by hand: no Swift package speaks MLflow, and the few messages we need are
// plain Codable structs over AsyncHTTPClient.

struct MLflowTag: Codable, Sendable, Equatable {
    var key: String
    var value: String
}

struct MLflowParam: Codable, Sendable, Equatable {
    var key: String
    var value: String
}

struct MLflowMetric: Codable, Sendable {
    var key: String
    var value: Double
    var timestamp: Int64
    var step: Int64
}

struct MLflowExperiment: Codable, Sendable {
    var experiment_id: String
    var name: String?
    var lifecycle_stage: String?
}

struct MLflowRunInfo: Codable, Sendable {
    var run_id: String
    var experiment_id: String?
    var status: String?
    var artifact_uri: String?
    var lifecycle_stage: String?
}

struct MLflowRunData: Codable, Sendable {
    var tags: [MLflowTag]?
}

struct MLflowRunEntity: Codable, Sendable {
    var info: MLflowRunInfo
    var data: MLflowRunData?
}

struct MLflowModelVersion: Codable, Sendable {
    var name: String
    var version: String
    var run_id: String?
    var source: String?
    var status: String?
    var tags: [MLflowTag]?
}

// Requests and responses.
struct GetExperimentResponse: Decodable { var experiment: MLflowExperiment }
struct CreateExperimentRequest: Encodable { var name: String }
struct CreateExperimentResponse: Decodable { var experiment_id: String }
struct CreateRunRequest: Encodable {
    var experiment_id: String
    var start_time: Int64
    var run_name: String
    var tags: [MLflowTag]
}
struct RunResponse: Decodable { var run: MLflowRunEntity }
struct SearchRunsRequest: Encodable {
    var experiment_ids: [String]
    var filter: String
    var run_view_type: String
    var max_results: Int
}
struct SearchRunsResponse: Decodable { var runs: [MLflowRunEntity]? }
struct LogBatchRequest: Encodable {
    var run_id: String
    var metrics: [MLflowMetric]
    var params: [MLflowParam]
    var tags: [MLflowTag]
}
struct UpdateRunRequest: Encodable {
    var run_id: String
    var status: String
    var end_time: Int64
}
struct CreateRegisteredModelRequest: Encodable {
    var name: String
    var tags: [MLflowTag]
    var description: String
}
struct SearchModelVersionsResponse: Decodable { var model_versions: [MLflowModelVersion]? }
struct CreateModelVersionRequest: Encodable {
    var name: String
    var source: String
    var run_id: String
    var tags: [MLflowTag]
    var description: String
}
struct ModelVersionResponse: Decodable { var model_version: MLflowModelVersion }
struct DeleteModelVersionRequest: Encodable {
    var name: String
    var version: String
}
struct DeleteRunRequest: Encodable { var run_id: String }
struct Empty: Codable {}
/// MLflow's error body: `{"error_code": "...", "message": "..."}`.
struct MLflowErrorBody: Decodable {
    var error_code: String?
    var message: String?
}

/// One server's REST endpoints, each request under a total deadline, redirects never followed, answers read up
/// to `maxResponseBytes`.
struct MLflowTransport: Sendable {
    let base: String  // scheme://host[:port][/prefix], no trailing slash
    let headers: [(String, String)]
    let timeout: Duration
    let http: HTTPClient
    let logger: Logger

    /// JSON answers are small (one run, one page of at most 100 model versions); a larger one is refused.
    static let maxResponseBytes = 4 << 20

    var server: String { base }

    func get<R: Decodable>(
        _ path: String, query: [(String, String)], _ operation: String
    ) async throws(MLflowError)
        -> R
    {
        var c = URLComponents()
        c.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) }
        // URLComponents leaves '+' alone in a query; a server decodes it as a space.
        let q = (c.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        let body = try await send(.GET, "/api/2.0/mlflow/\(path)?\(q)", body: nil, contentType: nil, operation)
        return try decode(body, operation)
    }

    func post<B: Encodable, R: Decodable>(
        _ path: String, _ request: B, _ operation: String
    ) async throws(MLflowError)
        -> R
    {
        try await call(.POST, path, request, operation)
    }

    /// A request with a JSON body (POST, DELETE, PATCH), answered with JSON.
    func call<B: Encodable, R: Decodable>(
        _ method: HTTPMethod, _ path: String, _ request: B, _ operation: String
    ) async throws(MLflowError)
        -> R
    {
        let encoder = JSONEncoder()
        // Protobuf's JSON mapping spells these as strings; MLflow parses them back.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        let data: Data
        do { data = try encoder.encode(request) } catch {
            throw failure(operation, "could not encode the request (\(error))", retryable: false)
        }
        let body = try await send(
            method, "/api/2.0/mlflow/\(path)", body: Array(data), contentType: "application/json", operation)
        return try decode(body, operation)
    }

    /// PUT through the tracking server's artifact proxy (`mlflow server --serve-artifacts`, the default):
    /// `/api/2.0/mlflow-artifacts/artifacts/<path>`, `path` relative to the server's artifacts destination.
    func putArtifact(_ path: String, _ bytes: [UInt8], _ operation: String) async throws(MLflowError) {
        let escaped = path.split(separator: "/", omittingEmptySubsequences: false).map {
            $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/", ";", "?", "#"]))
                ?? String($0)
        }.joined(separator: "/")
        _ = try await send(
            .PUT, "/api/2.0/mlflow-artifacts/artifacts/\(escaped)", body: bytes,
            contentType: "application/octet-stream", operation)
    }

    private func decode<R: Decodable>(_ body: ByteBuffer, _ operation: String) throws(MLflowError) -> R {
        if R.self == Empty.self { return Empty() as! R }
        do { return try JSONDecoder().decode(R.self, from: Data(body.readableBytesView)) } catch {
            throw failure(
                operation, "the server's answer is not the JSON MLflow sends (\(Self.shortDecodingError(error)))",
                retryable: false)
        }
    }

    static func shortDecodingError(_ error: Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _): return "no '\(MLflowError.sanitise(key.stringValue, limit: 60))'"
        case .typeMismatch(_, let c), .valueNotFound(_, let c):
            return
                "unexpected type at '\(MLflowError.sanitise(c.codingPath.map(\.stringValue).joined(separator: "."), limit: 60))'"
        case .dataCorrupted: return "not JSON"
        default: return "undecodable"
        }
    }

    func failure(
        _ operation: String, _ reason: String, status: Int? = nil, code: String? = nil, retryable: Bool
    )
        -> MLflowError
    {
        MLflowError(
            operation: operation, reason: reason, httpStatus: status, errorCode: code, retryable: retryable,
            server: server)
    }

    /// One request and its whole answer, within `timeout` in all; 2xx gives the body, anything else an MLflowError.
    private func send(
        _ method: HTTPMethod, _ path: String, body: [UInt8]?, contentType: String?, _ operation: String
    ) async throws(MLflowError) -> ByteBuffer {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        for (k, v) in headers { request.headers.replaceOrAdd(name: k, value: v) }
        request.headers.replaceOrAdd(name: "User-Agent", value: "adworker")
        request.headers.replaceOrAdd(name: "Accept", value: "application/json")
        if let contentType { request.headers.replaceOrAdd(name: "Content-Type", value: contentType) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let timeoutText = seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
        let http = self.http
        let prepared = request
        let nanos = Int64(seconds * 1e9)
        let outcome: Result<(HTTPResponseStatus, ByteBuffer), Error>
        // The total deadline: AsyncHTTPClient's deadline bounds the request until the answer's head; the race with a
        // timer bounds reading the body too (a server that stalls mid-answer).
        outcome = await withTaskGroup(of: Result<(HTTPResponseStatus, ByteBuffer), Error>?.self) { group in
            group.addTask {
                do {
                    let response = try await http.execute(prepared, deadline: .now() + .nanoseconds(nanos))
                    let bytes = try await response.body.collect(upTo: Self.maxResponseBytes)
                    return .success((response.status, bytes))
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                // A second after AsyncHTTPClient's own deadline, whose error says more (a refused connection, which
                // it retries until its deadline): this one only ends a body that stalls.
                try? await Task.sleep(for: .nanoseconds(nanos + 1_000_000_000))
                return Task.isCancelled ? nil : .failure(HTTPClientError.deadlineExceeded)
            }
            var first: Result<(HTTPResponseStatus, ByteBuffer), Error>? = nil
            while first == nil, let next = await group.next() { first = next }
            group.cancelAll()
            return first ?? .failure(HTTPClientError.cancelled)
        }
        let status: HTTPResponseStatus
        let answer: ByteBuffer
        switch outcome {
        case .success(let r): (status, answer) = r
        case .failure(let error as HTTPClientError)
        where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout:
            throw failure(
                operation, "no complete answer within \(timeoutText) (MLFLOW_HTTP_REQUEST_TIMEOUT)", retryable: true)
        case .failure(is NIOTooManyBytesError):
            throw failure(operation, "the answer is larger than \(Self.maxResponseBytes) bytes", retryable: false)
        case .failure(let error):
            logger.debug("mlflow request failed", metadata: ["error": "\(error)"])
            throw failure(
                operation, "cannot reach the server (\(MLflowError.sanitise(String(describing: error))))",
                retryable: true)
        }
        let code = Int(status.code)
        logger.debug(
            "mlflow request", metadata: ["method": "\(method)", "path": "\(path.prefix(200))", "status": "\(code)"])
        if (200..<300).contains(code) { return answer }
        let parsed = try? JSONDecoder().decode(MLflowErrorBody.self, from: Data(answer.readableBytesView))
        let errorCode = parsed?.error_code.map { MLflowError.sanitise($0, limit: 64) }
        var reason = "HTTP \(code)"
        let phrase = HTTPResponseStatus(statusCode: code).reasonPhrase
        if !phrase.isEmpty { reason += " \(phrase)" }
        if let errorCode { reason += " \(errorCode)" }
        if let message = parsed?.message.map({ MLflowError.sanitise($0) }), !message.isEmpty {
            reason += ": \(message)"
        }
        if (300..<400).contains(code) {
            reason += " (a redirect, not followed: point MLFLOW_TRACKING_URI at the final URL)"
        } else if code == 401 || code == 403 {
            reason += " (check MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD)"
        }
        throw failure(
            operation, reason, status: code, code: errorCode, retryable: code >= 500 || code == 429 || code == 408)
    }
}
