-- A SID store written by srchain before SRv6 (main at 23d9607, schema version 0): 'srchain chain plan'
-- of examples/cloud-gaming.yaml, then of cloud-gaming-mitigation.yaml, dumped with sqlite3's iterdump.
BEGIN TRANSACTION;
CREATE TABLE sids (
    label    INTEGER PRIMARY KEY,
    chain    TEXT NOT NULL,
    segment  TEXT NOT NULL,
    instance TEXT NOT NULL,
    context  TEXT NOT NULL,
    since    INTEGER NOT NULL,          -- chain version that first used this SID
    created  REAL NOT NULL,
    UNIQUE (chain, segment, instance, context)
);
INSERT INTO "sids" VALUES(16000,'cloud-gaming','features','features','p4/s1/flow-features',1,1.79623973663971471786e+09);
INSERT INTO "sids" VALUES(16001,'cloud-gaming','formatter','formatter','proxy/px1/static/reports/restore=2e917456fdad8f50',1,1.79623973663975167276e+09);
INSERT INTO "sids" VALUES(16002,'cloud-gaming','classifier','classifier-a','proxy/px1/static/reports/restore=45d6574890526880',1,1.79623973663976311686e+09);
INSERT INTO "sids" VALUES(16003,'cloud-gaming','classifier','classifier-b','proxy/px1/static/reports/restore=45d6574890526880',1,1.79623973663977432252e+09);
INSERT INTO "sids" VALUES(16004,'cloud-gaming','aggregator','aggregator','proxy/px1/static/reports/restore=f3b3f56c65da9838',1,1.79623973663978505135e+09);
INSERT INTO "sids" VALUES(16005,'cloud-gaming','priority','priority','p4/s1/priority',1,1.79623973663979458808e+09);
INSERT INTO "sids" VALUES(16006,'cloud-gaming','mitigation','mitigation','proxy/px1/dynamic/data/restore=f3b3f56c65da9838',2,1.7962397370595324039e+09);
CREATE TABLE versions (
    chain    TEXT NOT NULL,
    version  INTEGER NOT NULL,
    digest   TEXT NOT NULL,
    created  REAL NOT NULL,
    PRIMARY KEY (chain, version)
);
INSERT INTO "versions" VALUES('cloud-gaming',1,'f576899974cb4f21',1.79623973663951754572e+09);
INSERT INTO "versions" VALUES('cloud-gaming',2,'c80ed19c47c555c9',1.7962397370592727661e+09);
COMMIT;
