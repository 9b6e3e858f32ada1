import { Router } from '../../src/routing/router.ts';
import { routerContract } from './router-contract.ts';
import { handProfile } from './helpers.ts';

routerContract('clusters (Router)', (errors, costs, opts) => new Router(handProfile(errors, costs, opts)));
