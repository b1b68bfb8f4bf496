--
-- PostgreSQL database dump
--

\restrict Ad8ZjAmGmbZu0ngkEE3YorWWlw46jlmIjpVgoZpdq20od1O939giFtdwpRx1A4u

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: artifact_set_members; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.artifact_set_members (
    set_id character varying(40) NOT NULL,
    artifact_id character varying(40) NOT NULL
);


--
-- Name: artifact_sets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.artifact_sets (
    id integer NOT NULL,
    set_id character varying(40),
    labels jsonb,
    created_at timestamp without time zone
);


--
-- Name: artifact_sets_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.artifact_sets_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: artifact_sets_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.artifact_sets_id_seq OWNED BY public.artifact_sets.id;


--
-- Name: artifacts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.artifacts (
    id character varying(40) NOT NULL,
    value_id character varying(50),
    run_id character varying(40),
    name character varying(1000),
    version integer,
    fn_module character varying(100),
    fn_name character varying(100),
    composite boolean,
    value_id_duration double precision,
    compute_duration double precision,
    hash_duration double precision,
    computed_at timestamp without time zone,
    added_at timestamp without time zone,
    input_artifact_ids character varying(40)[],
    inputs_json jsonb,
    serializer character varying(128),
    load_kwargs jsonb,
    dump_kwargs jsonb,
    custom_fields jsonb
);


--
-- Name: runs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.runs (
    id character varying(40) NOT NULL,
    hostname character varying(256),
    info jsonb,
    created_at timestamp without time zone
);


--
-- Name: artifact_sets id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.artifact_sets ALTER COLUMN id SET DEFAULT nextval('public.artifact_sets_id_seq'::regclass);


--
-- Data for Name: artifact_set_members; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.artifact_set_members (set_id, artifact_id) FROM stdin;
fa68d96e9c7b0f5fbd3a28877f6b5d8d	55d9f90e3900967fb0ec8ac0c4d8d6f5
fa68d96e9c7b0f5fbd3a28877f6b5d8d	4e2f739846d8c0a3f87741cfa4f694e3
eb4d4524bac3df7346cb32ac8d8dee21	74e2011f5e633a475526709cc3bf66dd
eb4d4524bac3df7346cb32ac8d8dee21	4a1efbbc8d156b399c54ce4b6094a33f
\.


--
-- Data for Name: artifact_sets; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.artifact_sets (id, set_id, labels, created_at) FROM stdin;
1	fa68d96e9c7b0f5fbd3a28877f6b5d8d	{"name": "january-features"}	2026-11-29 14:45:58.166521
2	eb4d4524bac3df7346cb32ac8d8dee21	{"name": "release-2024-01"}	2026-11-29 14:45:58.252355
\.


--
-- Data for Name: artifacts; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.artifacts (id, value_id, run_id, name, version, fn_module, fn_name, composite, value_id_duration, compute_duration, hash_duration, computed_at, added_at, input_artifact_ids, inputs_json, serializer, load_kwargs, dump_kwargs, custom_fields) FROM stdin;
55d9f90e3900967fb0ec8ac0c4d8d6f5	957e9d09911181628601ac443855fab8	73ad190c1dab747278d352ccaec7dd1c	__main__.load_transactions	0	__main__	load_transactions	f	1.8596649169921875e-05	2.0503997802734375e-05	6.961822509765625e-05	2026-11-29 14:45:58.100554	2026-11-29 14:45:58.135914	{}	{"rows": 5, "month": "2024-01", "__varargs": []}	joblib	null	null	{"tags": ["raw"]}
4e2f739846d8c0a3f87741cfa4f694e3	2dfff5ba051d9ab2147b3abefe3222a3	73ad190c1dab747278d352ccaec7dd1c	__main__.featurize	2	__main__	featurize	f	6.4373016357421875e-06	2.1457672119140625e-05	0.00017404556274414062	2026-11-29 14:45:58.147278	2026-11-29 14:45:58.165551	{}	{"scale": 2.0, "__varargs": [], "transactions": {"id": "55d9f90e3900967fb0ec8ac0c4d8d6f5", "name": "__main__.load_transactions", "type": "ArtifactProxy"}}	joblib	null	null	{"stage": "features"}
411e7b531cf61be6279ece83c5e762a4	b4fbe26518b3d068f7cd51bb475fa6d6	73ad190c1dab747278d352ccaec7dd1c	__main__.load_transactions	0	__main__	load_transactions	f	7.152557373046875e-06	1.1920928955078125e-05	0.0001068115234375	2026-11-29 14:45:58.182556	2026-11-29 14:45:58.194998	{}	{"rows": 3, "month": "2024-01-labels", "__varargs": []}	joblib	null	null	{"tags": ["raw"]}
4a1efbbc8d156b399c54ce4b6094a33f	b9e7300cb775c70d1e4430d587a66a5d	73ad190c1dab747278d352ccaec7dd1c	__main__.train	0	__main__	train	f	7.62939453125e-06	1.9073486328125e-05	0.0001430511474609375	2026-11-29 14:45:58.209144	2026-11-29 14:45:58.221525	{}	{"labels": {"id": "411e7b531cf61be6279ece83c5e762a4", "name": "__main__.load_transactions", "type": "ArtifactProxy"}, "features": {"id": "4e2f739846d8c0a3f87741cfa4f694e3", "name": "__main__.featurize", "type": "ArtifactProxy"}, "settings": {"lr": 0.01, "epochs": 3}, "__varargs": []}	joblib	null	null	{"tags": ["model", "fraud"], "stage": "training"}
74e2011f5e633a475526709cc3bf66dd	bc018f68166a954efc5f57e518da65f6	73ad190c1dab747278d352ccaec7dd1c	__main__.report	0	__main__	report	f	7.3909759521484375e-06	1.0728836059570312e-05	0.0001380443572998047	2026-11-29 14:45:58.233165	2026-11-29 14:45:58.248687	{}	{"extra": {"note": "weekly", "baseline": "<provenance.ArtifactProxy(4e2f739846d8c0a3f87741cfa4f694e3) [0.0, 3.0, 6.0, 9.0, 12.0] >"}, "model": {"id": "4a1efbbc8d156b399c54ce4b6094a33f", "name": "__main__.train", "type": "ArtifactProxy"}, "__varargs": []}	joblib	null	null	{}
\.


--
-- Data for Name: runs; Type: TABLE DATA; Schema: public; Owner: -
--

COPY public.runs (id, hostname, info, created_at) FROM stdin;
73ad190c1dab747278d352ccaec7dd1c	build-07	{"id": "73ad190c1dab747278d352ccaec7dd1c", "git": {"dirty": false, "branch": "main", "commit": "3f9c2a1d0b7e"}, "host": {"system": "Linux", "machine": "x86_64", "release": "6.18.44-fc-v657", "version": "#1 SMP PREEMPT_DYNAMIC @0", "nodename": "build-07", "platform": "Linux-6.18.44-fc-v657-x86_64-with-glibc2.36", "cpu_count": 2, "processor": ""}, "process": {"cwd": "/tmp/tmp3xbff7gv", "exe": "/root/.pyenv/versions/3.11.7/bin/python3.11", "name": "python", "cmdline": ["/tmp/side-provenance/bin/python", "/tmp/tmp3xbff7gv/generate.py"], "num_fds": 5, "num_threads": 2}, "created_at": "2026-11-29 14:45:58.061460"}	2026-11-29 14:45:58.06146
\.


--
-- Name: artifact_sets_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.artifact_sets_id_seq', 2, true);


--
-- Name: artifact_set_members artifact_set_members_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.artifact_set_members
    ADD CONSTRAINT artifact_set_members_pkey PRIMARY KEY (set_id, artifact_id);


--
-- Name: artifact_sets artifact_sets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.artifact_sets
    ADD CONSTRAINT artifact_sets_pkey PRIMARY KEY (id);


--
-- Name: artifacts artifacts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.artifacts
    ADD CONSTRAINT artifacts_pkey PRIMARY KEY (id);


--
-- Name: runs runs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.runs
    ADD CONSTRAINT runs_pkey PRIMARY KEY (id);


--
-- Name: artifacts artifacts_run_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.artifacts
    ADD CONSTRAINT artifacts_run_id_fkey FOREIGN KEY (run_id) REFERENCES public.runs(id);


--
-- PostgreSQL database dump complete
--

\unrestrict Ad8ZjAmGmbZu0ngkEE3YorWWlw46jlmIjpVgoZpdq20od1O939giFtdwpRx1A4u

