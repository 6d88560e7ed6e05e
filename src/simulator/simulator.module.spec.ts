import { AppModule } from '../app.module.js';
import { parseEnv } from '../config/parse-env.js';
import { SimulatorModule } from './simulator.module.js';

const appImports = (env: Record<string, string>) =>
  AppModule.forRoot(parseEnv({ BIGQUERY_PROJECT_ID: 'plays-test', ...env })).imports;

describe('SimulatorModule in the app', () => {
  it('is imported only when SIMULATOR_ENABLED: off means no producer and no timer at all', () => {
    expect(appImports({})).not.toContain(SimulatorModule);
    expect(appImports({ SIMULATOR_ENABLED: 'false' })).not.toContain(SimulatorModule);
    expect(appImports({ SIMULATOR_ENABLED: 'true' })).toContain(SimulatorModule);
    expect(appImports({ SIMULATOR_ENABLED: 'true', INGEST_ENABLED: 'false' })).toContain(SimulatorModule);
  });
});
