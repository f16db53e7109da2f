// One line per subcommand module: each exports `register(program)`.
import type { Command } from 'commander';
import { register as simulate } from './simulate.js';
import { register as privacy } from './privacy.js';
import { register as pki } from './pki.js';
import { register as audit } from './audit.js';
import { register as matrix } from './matrix.js';
import { register as serve } from './serve.js';
import { register as join } from './join.js';
import { register as models } from './models.js';
import { register as attack } from './attack.js';

export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [simulate, privacy, pki, audit, serve, join, models, matrix, attack];
