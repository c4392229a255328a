"""Named integer codes of the Nursery world: actions, terrain, roles, observation channels, causes.

Everything in the world is a small integer in a fixed-size array; these names keep the code readable.
"""

# --- actions (shared by mothers and babies; babies cannot pick up, feed or scare) ---
STAY, UP, RIGHT, DOWN, LEFT, PICK_UP, PUT_DOWN, FEED, SCARE = range(9)
NUM_ACTIONS = 9
ACTION_NAMES = ("stay", "up", "right", "down", "left", "pick_up", "put_down", "feed", "scare")
# (dy, dx) for each action; non-move actions do not move.
MOVES = ((0, 0), (-1, 0), (0, 1), (1, 0), (0, -1), (0, 0), (0, 0), (0, 0), (0, 0))
# The four neighbours in the fixed order used whenever "an adjacent cell" must be chosen.
NEIGHBOURS = ((-1, 0), (0, 1), (1, 0), (0, -1))

# --- terrain (static per episode) ---
EMPTY, WALL, HAZARD = 0, 1, 2

# --- roles ---
ADULT, BABY = 0, 1

# --- observation channels of the egocentric view ---
CH_WALL, CH_FOOD, CH_HAZARD, CH_PREDATOR, CH_OWN_CHILD, CH_OTHER_BABY, CH_PARENT, CH_OTHER_ADULT, CH_CARRIED = range(9)
NUM_CHANNELS = 9
CHANNEL_NAMES = (
    "wall", "food", "hazard", "predator", "own_child", "other_baby", "parent", "other_adult", "carried",
)
# body features: energy, health, age fraction, is_baby, carrying a baby, carrying food,
# child born, child's cry level, cry direction (dy, dx; unit-free sign), time fraction
BODY_FEATURES = (
    "energy", "health", "age_frac", "is_baby", "carrying_baby", "carrying_food",
    "child_born", "cry", "cry_dy", "cry_dx", "time_frac",
)
NUM_BODY = len(BODY_FEATURES)

# --- causes of death (event log) ---
ALIVE_CAUSE, STARVED, HAZARD_DEATH, PREDATOR_DEATH, LEFT = 0, 1, 2, 3, 4
CAUSE_NAMES = ("alive", "starved", "hazard", "predator", "left")  # "left": mother_leaves baseline

# --- reward modes (a dynamic parameter, so worlds with different modes vmap together) ---
REWARD_SELF, REWARD_BABY, REWARD_BABY_WELFARE, REWARD_MIXED, REWARD_LINEAGE = range(5)
REWARD_MODES = ("self", "baby", "baby_welfare", "mixed", "lineage")

# --- layouts (a dynamic parameter: random per episode or a fixed named one) ---
LAYOUT_OPEN, LAYOUT_WALLS, LAYOUT_ROOMS, LAYOUT_CORRIDOR, LAYOUT_MOAT = range(5)
LAYOUT_NAMES = ("open", "walls", "rooms", "corridor", "moat")

NEVER = 2**30  # a tick that never comes

# --- family modes (held-out battery): who is in the world at the start, and beside whom babies are born ---
FAMILY_ALL, FAMILY_SOLO, FAMILY_ADOPT = range(3)
FAMILY_MODES = ("all", "solo", "adopt")  # solo: odd families absent; adopt: their babies born beside the even mother
