import { createRequire } from 'node:module';
import path from 'node:path';
import { ServerCredentials, type Server, type ServiceDefinition } from '@grpc/grpc-js';
import { GrpcClient } from 'google-gax';

/**
 * The Write API's gRPC service (google.cloud.bigquery.storage.v1.BigQueryWrite), loaded from the proto
 * that @google-cloud/bigquery-storage ships: what the tests' and the benchmark's stand-ins serve. The
 * service itself never loads it.
 */
export function writeApiService(): ServiceDefinition {
  const require = createRequire(import.meta.url);
  const protos = path.join(
    path.dirname(require.resolve('@google-cloud/bigquery-storage/package.json')),
    'build/protos',
  );
  const loaded = new GrpcClient().loadProto(protos, 'google/cloud/bigquery/storage/v1/storage.proto') as unknown as {
    google: { cloud: { bigquery: { storage: { v1: { BigQueryWrite: { service: ServiceDefinition } } } } } };
  };
  return loaded.google.cloud.bigquery.storage.v1.BigQueryWrite.service;
}

/** Serves a stand-in on a free local port (plain gRPC); resolves with `host:port`, as BIGQUERY_STORAGE_API_ENDPOINT takes it. */
export async function listenLocally(server: Server): Promise<string> {
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return `127.0.0.1:${port}`;
}
